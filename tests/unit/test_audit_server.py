"""The AuditService Query over real gRPC with real token checks: a tenant reads its own log only."""

from __future__ import annotations

import uuid
from concurrent import futures

import grpc
import pytest

from ragline.auth import TokenMinter, TokenSettings, TokenVerifier, init_keys
from ragline.rpc import AuthInterceptor
from ragline.v1 import audit_pb2, audit_pb2_grpc, common_pb2
from services.audit.server import AuditServicer
from services.audit.store import SqliteAuditStore


@pytest.fixture
def settings(tmp_path) -> TokenSettings:
    settings = TokenSettings("https://issuer.test", "ragline", tmp_path / "jwks.json", tmp_path / "key.pem", 900, 5)
    init_keys(settings)
    return settings


@pytest.fixture
def store(tmp_path):
    store = SqliteAuditStore(tmp_path / "audit.db")
    for index in range(150):
        store.append(
            audit_pb2.AuditEvent(
                header=common_pb2.EventHeader(event_id=uuid.uuid4().hex, tenant="acme"),
                action="answer" if index % 2 else "search",
                principal="alice",
                document_ids=["doc-7"] if index == 10 else [],
            )
        )
    store.append(audit_pb2.AuditEvent(header=common_pb2.EventHeader(event_id="g-1", tenant="globex"), action="answer"))
    yield store
    store.close()


@pytest.fixture
def stub(settings, store):
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2), interceptors=[AuthInterceptor(TokenVerifier(settings))]
    )
    audit_pb2_grpc.add_AuditServiceServicer_to_server(AuditServicer(store), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield audit_pb2_grpc.AuditServiceStub(channel)
    channel.close()
    server.stop(None).wait()


@pytest.fixture
def acme(settings) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {TokenMinter(settings).mint('auditor@acme', 'acme')}")]


def query(stub, metadata, **fields) -> list[int]:
    response = stub.Query(audit_pb2.QueryRequest(**fields), metadata=metadata)
    return [record.sequence for record in response.records]


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


def test_another_tenants_log_is_denied(stub, acme):
    with pytest.raises(grpc.RpcError) as raised:
        query(stub, acme, tenant="globex")
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'acme'" in raised.value.details() and "'globex'" in raised.value.details()


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
    with pytest.raises(grpc.RpcError) as raised:
        query(stub, acme, **fields)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in raised.value.details()
