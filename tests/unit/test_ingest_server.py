"""The Ingest RPC over a real gRPC server with the platform's token check, on loopback.

Publishing is the servicer's own `publish(topic, key, event)` interface; here a
function that keeps what it was given (Kafka itself is exercised by the
integration tests).
"""

from __future__ import annotations

from concurrent import futures
from pathlib import Path

import grpc
import pytest
from confluent_kafka import KafkaError, KafkaException

from ragline.auth import TokenMinter, TokenSettings, TokenVerifier, init_keys
from ragline.kafka import DOCUMENTS
from ragline.rpc import AuthInterceptor
from ragline.v1 import common_pb2, documents_pb2, ingest_pb2, ingest_pb2_grpc
from services.ingest.limits import Limits
from services.ingest.server import IngestServicer


class Published:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, documents_pb2.DocumentEvent]] = []
        self.failure: Exception | None = None

    def __call__(self, topic: str, key: str, event: documents_pb2.DocumentEvent) -> tuple[int, int]:
        if self.failure:
            raise self.failure
        self.events.append((topic, key, event))
        return 2, 41 + len(self.events)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> TokenSettings:
    keys = Path(tmp_path_factory.mktemp("keys"))
    settings = TokenSettings(
        issuer="https://issuer.test",
        audience="ragline",
        jwks_path=keys / "jwks.json",
        signing_key_path=keys / "signing-key.pem",
        max_lifetime_s=900,
        leeway_s=5,
    )
    init_keys(settings)
    return settings


@pytest.fixture
def published() -> Published:
    return Published()


@pytest.fixture
def stub(settings: TokenSettings, published: Published):
    interceptors = [AuthInterceptor(TokenVerifier(settings))]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=interceptors)
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(IngestServicer(published, Limits(document_bytes=1000)), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield ingest_pb2_grpc.IngestServiceStub(channel)
    channel.close()
    server.stop(None)


def bearer(settings: TokenSettings, subject: str = "alice", tenant: str = "northwind") -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {TokenMinter(settings).mint(subject, tenant)}")]


def request(tenant: str = "", event_id: str = "", content: bytes = b"# Hello\n\nWorld.") -> ingest_pb2.IngestRequest:
    return ingest_pb2.IngestRequest(
        event=documents_pb2.DocumentEvent(
            header=common_pb2.EventHeader(tenant=tenant, event_id=event_id, producer="somebody-else"),
            document_id="guide",
            upsert=documents_pb2.DocumentUpsert(
                provenance=common_pb2.Provenance(
                    document_version=1,
                    sensitivity=common_pb2.SENSITIVITY_INTERNAL,
                    access=common_pb2.AccessList(groups=["all-staff"]),
                ),
                mime_type="text/markdown",
                content=content,
            ),
        )
    )


def test_an_event_without_tenant_is_published_for_the_callers_tenant(stub, settings, published):
    response = stub.Ingest(request(), metadata=bearer(settings))
    assert (response.topic, response.partition, response.offset) == (DOCUMENTS, 2, 42)
    [(topic, key, event)] = published.events
    assert (topic, key) == (DOCUMENTS, "northwind/guide")
    assert event.header.tenant == "northwind"
    assert event.header.event_id == response.event_id and len(response.event_id) == 32
    assert event.header.schema_version == "ragline.v1"
    assert event.header.producer == "ingest-rpc"
    assert event.header.produced_at.seconds > 0
    assert event.upsert.content == b"# Hello\n\nWorld."


def test_the_callers_event_id_is_kept(stub, settings, published):
    response = stub.Ingest(request("northwind", "retry-me"), metadata=bearer(settings))
    assert response.event_id == "retry-me" == published.events[0][2].header.event_id


def test_another_tenant_is_denied(stub, settings, published):
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(request("contoso"), metadata=bearer(settings))
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "tenant 'northwind'" in error.value.details() and "'contoso'" in error.value.details()
    assert published.events == []


def test_a_service_may_publish_for_any_tenant_but_must_name_it(stub, settings, published):
    service = bearer(settings, subject="service:connector", tenant="")
    stub.Ingest(request("contoso"), metadata=service)
    assert published.events[0][1] == "contoso/guide"
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(request(""), metadata=service)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "header.tenant is empty" in error.value.details()


def test_an_invalid_event_is_refused_and_not_published(stub, settings, published):
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(request(content=b"\xff\xfe not utf-8"), metadata=bearer(settings))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not valid UTF-8" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(request(content=b"x" * 1001), metadata=bearer(settings))
    assert "above the limit of 1000" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(request(content=b"%PDF-1.7\n"), metadata=bearer(settings))
    assert "content declared as text/markdown is a PDF document" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(ingest_pb2.IngestRequest(), metadata=bearer(settings))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "event is missing" in error.value.details()
    assert published.events == []


def test_a_reference_is_published_as_it_is_and_read_by_the_consumer_later(stub, settings, published):
    by_reference = request(content=b"")
    by_reference.event.upsert.content_uri = "https://docs.example/guide.md"
    stub.Ingest(by_reference, metadata=bearer(settings))
    assert published.events[0][2].upsert.content_uri == "https://docs.example/guide.md"
    by_reference.event.upsert.content_uri = "ftp://docs.example/guide.md"
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(by_reference, metadata=bearer(settings))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "has scheme 'ftp'" in error.value.details()


def test_kafka_not_acknowledging_is_unavailable_with_the_event_id_to_retry(stub, settings, published):
    published.failure = KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT, "broker down"))
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(request("northwind", "e-77"), metadata=bearer(settings))
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "retry with the same event_id e-77" in error.value.details()


def test_a_call_without_token_is_unauthenticated(stub, published):
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(request())
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert published.events == []
