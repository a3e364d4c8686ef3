"""The AuditService over real gRPC with real token checks: only an auditor reads the log, only its own
tenant's; Query pages and filters, Verify names the first broken record, Export streams exactly one tenant's
records as verifiable JSON Lines; bulk reads and refusals leave records."""

from __future__ import annotations

import base64
import json
import sqlite3

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from ragline.v1 import audit_pb2, audit_pb2_grpc, common_pb2
from services.audit.access import AuditorAccess
from services.audit.server import AuditServicer
from services.audit.store import GENESIS_HASH, AuditQuery, SqliteAuditStore, chain_hash

T0 = 1_800_000_000  # s


@pytest.fixture
def store(tmp_path):
    store = SqliteAuditStore(tmp_path / "audit.db")
    for index in range(150):
        occurred = Timestamp(seconds=T0 + index)
        store.append(
            audit_pb2.AuditEvent(
                header=common_pb2.EventHeader(event_id=f"acme-{index}", tenant="acme"),
                action="answer" if index % 2 else "search",
                principal="alice",
                document_ids=["doc-7"] if index == 10 else [],
                details={"answer": "Zürich ✓"} if index == 3 else {},
                occurred_at=occurred,
            )
        )
    for index in range(3):
        store.append(
            audit_pb2.AuditEvent(
                header=common_pb2.EventHeader(event_id=f"globex-{index}", tenant="globex"), action="answer"
            )
        )
    yield store
    store.close()


@pytest.fixture
def stub(serve, store) -> audit_pb2_grpc.AuditServiceStub:
    # Small chunks, so that an export of 150 records takes several messages.
    servicer = AuditServicer(store, AuditorAccess("auditor"), 4096)
    return audit_pb2_grpc.AuditServiceStub(serve(audit_pb2_grpc.add_AuditServiceServicer_to_server, servicer))


@pytest.fixture
def acme(bearer) -> list[tuple[str, str]]:
    return bearer("auditor@acme", "acme", roles=("auditor",))


@pytest.fixture
def acme_user(bearer) -> list[tuple[str, str]]:
    return bearer("alice@acme", "acme", roles=("reader",))


def query(stub, metadata, **fields) -> list[int]:
    response = stub.Query(audit_pb2.QueryRequest(**fields), metadata=metadata)
    return [record.sequence for record in response.records]


def export(stub, metadata, **fields) -> list[bytes]:
    return [message.jsonl for message in stub.Export(audit_pb2.ExportRequest(**fields), metadata=metadata)]


def read_acme(stub, method: str, metadata) -> object:
    """Query, Verify or Export of tenant acme's log."""
    calls = {
        "Query": lambda: stub.Query(audit_pb2.QueryRequest(tenant="acme"), metadata=metadata),
        "Verify": lambda: stub.Verify(audit_pb2.VerifyRequest(tenant="acme"), metadata=metadata),
        "Export": lambda: export(stub, metadata, tenant="acme"),
    }
    return calls[method]()


def refused(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def test_pages_in_sequence_order(stub, acme):
    assert query(stub, acme, tenant="acme") == list(range(1, 101))
    assert query(stub, acme, tenant="acme", after_sequence=100) == list(range(101, 151))
    assert query(stub, acme, tenant="acme", page_size=5000) == list(range(1, 151))
    assert query(stub, acme, tenant="acme", page_size=3, after_sequence=10) == [11, 12, 13]


def test_filters(stub, acme):
    assert query(stub, acme, tenant="acme", document_id="doc-7") == [11]
    assert query(stub, acme, tenant="acme", action="answer", page_size=3) == [2, 4, 6]
    assert query(stub, acme, tenant="acme", principal="bob") == []


def test_records_carry_the_event_and_when_it_was_stored(stub, acme):
    [record] = stub.Query(audit_pb2.QueryRequest(tenant="acme", document_id="doc-7"), metadata=acme).records
    assert record.event.document_ids == ["doc-7"]
    assert record.event.header.tenant == "acme"
    assert record.stored_at.seconds > 0


@pytest.mark.parametrize("method", ["Query", "Verify", "Export"])
def test_a_caller_without_the_auditor_role_reads_nothing_and_the_attempt_is_recorded(stub, store, acme_user, method):
    error = refused(lambda: read_acme(stub, method, acme_user))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "needs the 'auditor' role" in error.details()
    [attempt] = store.query(AuditQuery("acme", action=f"audit.{method.lower()}"))
    assert (attempt.event.principal, attempt.event.outcome) == ("alice@acme", "denied")
    assert attempt.event.details["requested_tenant"] == "acme"


def test_the_refusal_names_the_roles_the_token_holds(stub, acme_user):
    error = refused(lambda: stub.Query(audit_pb2.QueryRequest(tenant="acme"), metadata=acme_user))
    assert "your token's roles are: 'reader'" in error.details()


def test_a_call_without_a_token_is_unauthenticated(stub):
    error = refused(lambda: stub.Verify(audit_pb2.VerifyRequest(tenant="acme")))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("method", ["Query", "Verify", "Export"])
def test_an_auditor_of_another_tenant_is_denied(stub, store, bearer, method):
    globex = bearer("auditor@globex", "globex", roles=("auditor",))
    error = refused(lambda: read_acme(stub, method, globex))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'globex'" in error.details() and "'acme'" in error.details()
    # Recorded in the caller's own tenant's log, never written into the log it tried to read.
    assert store.query(AuditQuery("globex", action=f"audit.{method.lower()}"))[0].event.outcome == "denied"
    assert store.query(AuditQuery("acme", after_sequence=150)) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "tenant is empty"),
        ({"tenant": "acme", "page_size": -1}, "page_size"),
        ({"tenant": "acme", "after_sequence": -5}, "after_sequence"),
        ({"tenant": "acme", "since": {"seconds": 20}, "until": {"seconds": 10}}, "since is not before until"),
    ],
)
def test_invalid_queries(stub, acme, fields, message):
    error = refused(lambda: query(stub, acme, **fields))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.details()


def test_verify_reports_an_intact_chain_and_its_head_and_is_recorded(stub, store, acme):
    head = store.query(AuditQuery("acme", after_sequence=149))[0].hash
    response = stub.Verify(audit_pb2.VerifyRequest(tenant="acme"), metadata=acme)
    assert (response.intact, response.records, response.first_broken_sequence, response.problem) == (True, 150, 0, "")
    assert response.head_hash == head
    [verified] = store.query(AuditQuery("acme", action="audit.verify"))
    assert verified.sequence == 151 and verified.event.principal == "auditor@acme"
    assert verified.event.details["head_hash"] == head and verified.event.outcome == "ok"


def test_verify_names_the_first_broken_record(tmp_path, stub, store, acme):
    with sqlite3.connect(tmp_path / "audit.db") as connection:
        connection.execute("DROP TRIGGER audit_records_no_update")
        connection.execute("UPDATE audit_records SET event = x'0a00' WHERE tenant = 'acme' AND sequence = 42")
    response = stub.Verify(audit_pb2.VerifyRequest(tenant="acme"), metadata=acme)
    assert not response.intact
    assert (response.records, response.first_broken_sequence) == (41, 42)
    assert "record 42 does not match its hash" in response.problem
    assert store.query(AuditQuery("acme", action="audit.verify"))[0].event.outcome == "alert"


def test_an_auditor_exports_exactly_its_tenants_records_as_verifiable_json_lines(stub, store, acme):
    chunks = export(stub, acme, tenant="acme")
    assert len(chunks) > 1 and all(chunk.endswith(b"\n") for chunk in chunks)
    lines = [json.loads(line) for line in b"".join(chunks).splitlines()]
    stored = store.query(AuditQuery("acme", limit=1000))
    # The export itself is recorded first, so it is the last line.
    assert [line["header"]["event_id"] for line in lines] == [record.event.header.event_id for record in stored]
    assert len(lines) == 151 and lines[-1]["action"] == "audit.export"
    assert {line["header"]["tenant"] for line in lines} == {"acme"}
    previous_hash = GENESIS_HASH
    for expected_sequence, line in enumerate(lines, start=1):
        assert line["sequence"] == expected_sequence and line["prev_hash"] == previous_hash
        assert chain_hash(line["prev_hash"], line["sequence"], base64.b64decode(line["event_bytes"])) == line["hash"]
        previous_hash = line["hash"]
    assert lines[3]["details"] == {"answer": "Zürich ✓"}
    assert lines[10]["document_ids"] == ["doc-7"] and lines[0]["document_ids"] == []
    assert lines[0]["occurred_at"] == "2027-01-15T08:00:00Z" and lines[0]["stored_at"].endswith("Z")


def test_export_filters_by_occurrence_time(stub, acme):
    since, until = Timestamp(seconds=T0 + 10), Timestamp(seconds=T0 + 13)
    lines = [
        json.loads(line) for line in b"".join(export(stub, acme, tenant="acme", since=since, until=until)).splitlines()
    ]
    assert [line["sequence"] for line in lines] == [11, 12, 13]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "tenant is empty"),
        ({"tenant": "acme", "since": {"seconds": 5}, "until": {"seconds": 5}}, "since is not before"),
    ],
)
def test_invalid_exports(stub, acme, fields, message):
    error = refused(lambda: export(stub, acme, **fields))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.details()
