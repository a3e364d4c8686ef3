"""How much of a batch an event fills: its chunks, since the model's cost is per chunk."""

from __future__ import annotations

from confluent_kafka import Message

from ragline.v1 import chunks_pb2
from services.embedding.batching import chunk_count


def message(event: chunks_pb2.ChunkEvent | None = None, raw: bytes | None = None) -> Message:
    return Message(topic="ragline.chunks.v1", value=raw if event is None else event.SerializeToString())


def test_an_upsert_weighs_its_chunks():
    event = chunks_pb2.ChunkEvent(document_id="doc")
    for ordinal in range(7):
        event.upsert.chunks.add(chunk_id=f"c{ordinal}", text="text")
    assert chunk_count(message(event)) == 7


def test_a_delete_an_empty_upsert_and_undecodable_bytes_weigh_one():
    deletion = chunks_pb2.ChunkEvent(document_id="doc")
    deletion.delete.SetInParent()
    empty = chunks_pb2.ChunkEvent(document_id="doc")
    empty.upsert.SetInParent()
    assert [chunk_count(message(deletion)), chunk_count(message(empty))] == [1, 1]
    assert chunk_count(message(raw=b"\xff\xff not protobuf")) == 1
    assert chunk_count(message(raw=None)) == 1
