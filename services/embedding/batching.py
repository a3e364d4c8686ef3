"""Batches of chunks, not of events: the model's cost is per chunk.

A batch closes when its events carry RAGLINE_EMBEDDING_BATCH_CHUNKS chunks,
or RAGLINE_EMBEDDING_BATCH_WAIT_S after its first event arrived, whichever
comes first (EventConsumer with `weigh=chunk_count`). An event's chunks are
never split, so the event that crosses the limit still joins the batch.
"""

from __future__ import annotations

from confluent_kafka import Message
from google.protobuf.message import DecodeError

from ragline.v1 import chunks_pb2


def chunk_count(message: Message) -> int:
    """The chunks an event carries; a delete, or bytes the handler will
    dead-letter, count as one."""
    try:
        event = chunks_pb2.ChunkEvent.FromString(message.value() or b"")
    except DecodeError:
        return 1
    return max(1, len(event.upsert.chunks))
