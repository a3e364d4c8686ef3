"""`ragline audit verify|export|tail` against a real AuditService on loopback, with development tokens
minted from a local key: exit codes, output, and what a caller without the auditor role sees."""

from __future__ import annotations

import argparse
import json
import sqlite3
import uuid
from concurrent import futures

import grpc
import pytest

from ragline.auth import Principal, TokenSettings, TokenVerifier, init_keys
from ragline.cli import audit as audit_cli
from ragline.rpc import AuthInterceptor
from ragline.v1 import audit_pb2, audit_pb2_grpc, common_pb2
from services.audit.access import AuditorAccess
from services.audit.server import AuditServicer
from services.audit.store import SqliteAuditStore

needs_roles = pytest.mark.skipif(
    "roles" not in Principal.__dataclass_fields__, reason="ragline.auth.Principal has no roles yet"
)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGLINE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("RAGLINE_TOKEN", raising=False)
    init_keys(TokenSettings.from_env())
    store = SqliteAuditStore(tmp_path / "audit.db")
    for tenant, count in (("acme", 5), ("globex", 2)):
        for _ in range(count):
            header = common_pb2.EventHeader(event_id=uuid.uuid4().hex, tenant=tenant)
            store.append(audit_pb2.AuditEvent(header=header, action="answer", principal="alice"))
    yield store
    store.close()


@pytest.fixture(autouse=True)
def server(store, monkeypatch):
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2),
        interceptors=[AuthInterceptor(TokenVerifier(TokenSettings.from_env()))],
    )
    audit_pb2_grpc.add_AuditServiceServicer_to_server(AuditServicer(store, AuditorAccess("auditor"), 1024), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    monkeypatch.setenv("RAGLINE_AUDIT_ADDR", f"127.0.0.1:{port}")
    yield
    server.stop(None).wait()


def ragline_audit(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ragline")
    audit_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["audit", *argv])
    return args.func(args)


@needs_roles
def test_verify_prints_the_head_and_exits_0(capsys):
    assert ragline_audit("verify", "--tenant", "acme") == 0
    assert capsys.readouterr().out.startswith("acme: intact, 5 records, head ")


@needs_roles
def test_verify_exits_1_and_names_the_broken_record(tmp_path, capsys):
    with sqlite3.connect(tmp_path / "audit.db") as connection:
        connection.execute("DROP TRIGGER audit_records_no_delete")
        connection.execute("DELETE FROM audit_records WHERE tenant = 'acme' AND sequence = 2")
    assert ragline_audit("verify", "--tenant", "acme") == 1
    assert "acme: BROKEN at record 2 (1 records verified before it): sequence gap after 1" in capsys.readouterr().out


@needs_roles
def test_export_writes_one_tenants_records_to_a_file(tmp_path, capsys):
    output = tmp_path / "acme.jsonl"
    assert ragline_audit("export", "--tenant", "acme", "-o", str(output), "--since", "2000-01-01") == 0
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    # Five answers, then the record of this export.
    assert [line["sequence"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert {line["header"]["tenant"] for line in lines} == {"acme"}
    assert capsys.readouterr().err == f"exported 6 records of acme to {output}\n"


@needs_roles
def test_tail_prints_the_latest_records(capsys):
    assert ragline_audit("tail", "--tenant", "globex", "-n", "1") == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("#2 ") and " answer alice " in line


@needs_roles
def test_a_token_without_the_auditor_role_gets_an_error_a_person_can_act_on(capsys):
    assert ragline_audit("verify", "--tenant", "acme", "--role", "reader") == 1
    error = capsys.readouterr().err
    assert error.startswith("error: PERMISSION_DENIED: reading the audit log needs the 'auditor' role")


def test_a_bad_time_is_refused_before_any_call(capsys):
    with pytest.raises(SystemExit):
        ragline_audit("export", "--since", "yesterday")
    assert "is not an ISO 8601 time" in capsys.readouterr().err
