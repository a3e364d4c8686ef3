"""The embedding consumer's batches against the real broker: counted in chunks,
closed by size or by the wait since their first event, and retried whole."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from ragline.kafka import EventConsumer, EventProducer, ReceivedEvent, TransientError
from ragline.v1 import chunks_pb2
from services.embedding.batching import chunk_count

pytestmark = pytest.mark.integration


def chunk_event(document_id: str, chunks: int) -> chunks_pb2.ChunkEvent:
    event = chunks_pb2.ChunkEvent(document_id=document_id, document_version=1)
    event.header.tenant = "acme"
    for ordinal in range(chunks):
        event.upsert.chunks.add(chunk_id=f"{document_id}/{ordinal}", ordinal=ordinal, text=f"text {ordinal}")
    if not chunks:
        event.delete.SetInParent()
    return event


class Batches:
    """What the handler was given, batch by batch, and when."""

    def __init__(self, fail_first: int = 0):
        self.batches: list[tuple[float, list[chunks_pb2.ChunkEvent]]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def __call__(self, events: list[ReceivedEvent]) -> None:
        decoded = [event.decode(chunks_pb2.ChunkEvent) for event in events]
        with self.lock:
            if self.fail_first:
                self.fail_first -= 1
                raise TransientError("the model is not ready")
            self.batches.append((time.monotonic(), decoded))

    def documents(self) -> list[str]:
        with self.lock:
            return [event.document_id for _, events in self.batches for event in events]

    def chunk_counts(self) -> list[int]:
        with self.lock:
            return [sum(len(event.upsert.chunks) for event in events) for _, events in self.batches]


def consume(topic: str, handler: Batches, max_chunks: int, wait_s: float) -> tuple[EventConsumer, threading.Thread]:
    consumer = EventConsumer("test-embedding", f"test-{uuid.uuid4().hex}", [topic], EventProducer("test"))
    thread = threading.Thread(target=consumer.run, args=(handler, max_chunks, wait_s, chunk_count), daemon=True)
    thread.start()
    return consumer, thread


def wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_batch_closes_once_its_events_carry_the_chunk_limit(topic):
    producer = EventProducer("test")
    for number in range(12):
        producer.publish(topic, f"acme/doc-{number}", chunk_event(f"doc-{number}", 10))
    producer.flush()
    batches = Batches()
    # The wait is long: only the chunk limit can close these batches.
    consumer, thread = consume(topic, batches, max_chunks=25, wait_s=20.0)
    try:
        assert wait_for(lambda: len(batches.documents()) == 12), "no full batches within 30 s"
    finally:
        consumer.stop()
        thread.join(30)
    # An event is never split: the one that crosses 25 chunks still joins its batch.
    assert batches.chunk_counts() == [30, 30, 30, 30]
    assert batches.documents() == [f"doc-{number}" for number in range(12)]


def test_a_batch_closes_the_wait_after_its_first_event_with_what_came_meanwhile(topic):
    batches = Batches()
    consumer, thread = consume(topic, batches, max_chunks=64, wait_s=1.5)
    producer = EventProducer("test")
    try:
        producer.publish_and_wait(topic, "acme/warm-up", chunk_event("warm-up", 1))
        assert wait_for(lambda: batches.batches), "the consumer never joined its group"
        time.sleep(2)  # idle: the next batch starts with the next event
        first = time.monotonic()
        producer.publish_and_wait(topic, "acme/early", chunk_event("early", 2))
        time.sleep(0.5)
        producer.publish_and_wait(topic, "acme/gone", chunk_event("gone", 0))
        assert wait_for(lambda: len(batches.batches) == 2), "the batch never closed"
        time.sleep(0.5)
    finally:
        consumer.stop()
        thread.join(30)
    assert len(batches.batches) == 2, "the two events did not share one batch"
    closed, events = batches.batches[1]
    assert [event.document_id for event in events] == ["early", "gone"]
    assert 1.4 <= closed - first < 4.0


def test_a_failed_batch_is_retried_whole_and_nothing_is_lost(topic):
    producer = EventProducer("test")
    for number in range(5):
        producer.publish(topic, f"acme/doc-{number}", chunk_event(f"doc-{number}", 3))
    producer.flush()
    batches = Batches(fail_first=1)
    consumer, thread = consume(topic, batches, max_chunks=64, wait_s=0.5)
    try:
        assert wait_for(lambda: len(batches.documents()) >= 5), "the events were lost after a failed batch"
    finally:
        consumer.stop()
        thread.join(30)
    assert sorted(batches.documents()) == [f"doc-{number}" for number in range(5)]
