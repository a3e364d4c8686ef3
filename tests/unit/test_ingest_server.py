"""The Ingest RPC over a real gRPC server with the platform's token check, on loopback.

Publishing is the servicer's own `publish(topic, key, event)` interface; here a
function that keeps what it was given (Kafka itself is exercised by the
integration tests).
"""

from __future__ import annotations

import grpc
import pytest
from confluent_kafka import KafkaError, KafkaException

from ragline.kafka import DOCUMENTS
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


@pytest.fixture
def published() -> Published:
    return Published()


@pytest.fixture
def stub(serve, published: Published) -> ingest_pb2_grpc.IngestServiceStub:
    servicer = IngestServicer(published, Limits(document_bytes=1000))
    return ingest_pb2_grpc.IngestServiceStub(serve(ingest_pb2_grpc.add_IngestServiceServicer_to_server, servicer))


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


def test_an_event_without_tenant_is_published_for_the_callers_tenant(stub, bearer, published):
    response = stub.Ingest(request(), metadata=bearer())
    assert (response.topic, response.partition, response.offset) == (DOCUMENTS, 2, 42)
    [(topic, key, event)] = published.events
    assert (topic, key) == (DOCUMENTS, "acme/guide")
    assert event.header.tenant == "acme"
    assert event.header.event_id == response.event_id and len(response.event_id) == 32
    assert event.header.schema_version == "ragline.v1"
    assert event.header.producer == "ingest-rpc"
    assert event.header.produced_at.seconds > 0
    assert event.upsert.content == b"# Hello\n\nWorld."


def test_the_callers_event_id_is_kept(stub, bearer, published):
    response = stub.Ingest(request("acme", "retry-me"), metadata=bearer())
    assert response.event_id == "retry-me" == published.events[0][2].header.event_id


def test_another_tenant_is_denied(stub, bearer, published):
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(request("contoso"), metadata=bearer())
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "tenant 'acme'" in error.value.details() and "'contoso'" in error.value.details()
    assert published.events == []


def test_a_service_may_publish_for_any_tenant_but_must_name_it(stub, bearer, published):
    service = bearer("service:connector", "")
    stub.Ingest(request("contoso"), metadata=service)
    assert published.events[0][1] == "contoso/guide"
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(request(""), metadata=service)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "header.tenant is empty" in error.value.details()


def test_an_invalid_event_is_refused_and_not_published(stub, bearer, published):
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(request(content=b"\xff\xfe not utf-8"), metadata=bearer())
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not valid UTF-8" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(request(content=b"x" * 1001), metadata=bearer())
    assert "above the limit of 1000" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(request(content=b"%PDF-1.7\n"), metadata=bearer())
    assert "content declared as text/markdown is a PDF document" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(ingest_pb2.IngestRequest(), metadata=bearer())
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "event is missing" in error.value.details()
    assert published.events == []


def test_a_reference_is_published_as_it_is_and_read_by_the_consumer_later(stub, bearer, published):
    by_reference = request(content=b"")
    by_reference.event.upsert.content_uri = "https://docs.example/guide.md"
    stub.Ingest(by_reference, metadata=bearer())
    assert published.events[0][2].upsert.content_uri == "https://docs.example/guide.md"
    by_reference.event.upsert.content_uri = "ftp://docs.example/guide.md"
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(by_reference, metadata=bearer())
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "has scheme 'ftp'" in error.value.details()


def test_kafka_not_acknowledging_is_unavailable_with_the_event_id_to_retry(stub, bearer, published):
    published.failure = KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT, "broker down"))
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(request("acme", "e-77"), metadata=bearer())
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "retry with the same event_id e-77" in error.value.details()


def test_a_call_without_token_is_unauthenticated(stub, published):
    with pytest.raises(grpc.RpcError) as error:
        stub.Ingest(request())
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert published.events == []
