"""Consumed bytes become a DocumentEvent only when they are one: another message
type that happens to parse is refused rather than read as a delete."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE, Message
from opentelemetry import context, trace

from ragline.kafka import MESSAGE_TYPE_HEADER, ReceivedEvent, RejectedEvent
from ragline.v1 import audit_pb2, chunks_pb2, common_pb2, documents_pb2, embeddings_pb2
from services.ingest.decoding import decode_document_event, misread_fields
from services.ingest.handling import logged_at


def received(value: bytes, headers: dict[str, str] | None = None, timestamp=(TIMESTAMP_CREATE_TIME, 1_750_000_000_123)) -> ReceivedEvent:
    message = Message(topic="ragline.documents.v1", partition=0, offset=7, key=b"acme/doc", value=value, timestamp=timestamp)
    return ReceivedEvent(message=message, span=trace.INVALID_SPAN, context=context.get_current(), headers=headers or {})


def chunk_event() -> chunks_pb2.ChunkEvent:
    event = chunks_pb2.ChunkEvent(header=common_pb2.EventHeader(event_id="e", tenant="acme"), document_id="doc", document_version=3)
    event.upsert.chunks.add(chunk_id="c1", text="Hello.")
    return event


def document_event() -> documents_pb2.DocumentEvent:
    event = documents_pb2.DocumentEvent(header=common_pb2.EventHeader(event_id="e", tenant="acme"), document_id="doc")
    event.upsert.provenance.access.groups.append("all-staff")
    event.upsert.metadata["space"] = "handbook"
    event.upsert.content = b"Hello."
    return event


def test_a_chunk_event_without_a_type_header_is_refused_not_read_as_a_delete():
    value = chunk_event().SerializeToString()
    # What plain parsing makes of it: a delete of every version of the document.
    lenient = documents_pb2.DocumentEvent.FromString(value)
    assert lenient.WhichOneof("change") == "delete" and lenient.delete.document_version == 0

    with pytest.raises(RejectedEvent) as rejected:
        decode_document_event(received(value))
    assert rejected.value.stage == "decode"
    assert "its field(s) upsert, delete.document_version arrived with the wrong wire type" in rejected.value.reason


def test_an_embedding_event_without_a_type_header_is_refused():
    event = embeddings_pb2.EmbeddingEvent(header=common_pb2.EventHeader(event_id="e", tenant="acme"), document_id="doc", document_version=2)
    with pytest.raises(RejectedEvent, match="is another message type"):
        decode_document_event(received(event.SerializeToString()))


def test_a_declared_message_type_other_than_document_event_is_refused():
    value = audit_pb2.AuditEvent(action="x").SerializeToString()
    with pytest.raises(RejectedEvent, match="message type ragline.v1.AuditEvent on a topic that carries ragline.v1.DocumentEvent"):
        decode_document_event(received(value, {MESSAGE_TYPE_HEADER: "ragline.v1.AuditEvent"}))


def test_a_document_event_decodes_and_fields_of_a_newer_schema_are_tolerated():
    value = document_event().SerializeToString()
    assert decode_document_event(received(value)) == document_event()
    newer = value + b"\x98\x06\x01"  # field 99, a varint: added by a newer producer
    assert misread_fields(documents_pb2.DocumentEvent.FromString(newer)) == []
    assert decode_document_event(received(newer)).document_id == "doc"


def test_kafka_time_is_read_from_the_message_or_is_now_without_one():
    assert logged_at(received(b"").message).ToMilliseconds() == 1_750_000_000_123
    before = int(time.time() * 1000)
    assert logged_at(received(b"", timestamp=(TIMESTAMP_NOT_AVAILABLE, -1)).message).ToMilliseconds() >= before
