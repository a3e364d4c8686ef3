"""The Kafka layer against the real broker: trace context continues across the
hop, bad events are dead-lettered and the consumer goes on, transient
failures are retried without losing the event."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from opentelemetry import trace

from ragline.config import kafka_client_settings
from ragline.kafka import DEADLETTER, EventConsumer, EventProducer, ReceivedEvent, TransientError, per_event
from ragline.v1 import chunks_pb2, deadletter_pb2, documents_pb2

pytestmark = pytest.mark.integration


def document(document_id: str) -> documents_pb2.DocumentEvent:
    event = documents_pb2.DocumentEvent(document_id=document_id)
    event.header.tenant = "acme"
    event.header.event_id = uuid.uuid4().hex
    event.delete.SetInParent()
    return event


def dead_letter_offsets() -> dict[int, int]:
    consumer = Consumer({**kafka_client_settings(), "group.id": uuid.uuid4().hex})
    partitions = consumer.list_topics(DEADLETTER, timeout=10).topics[DEADLETTER].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(DEADLETTER, p), timeout=10)[1] for p in partitions}
    consumer.close()
    return ends


def dead_letters_from(topic: str, since: dict[int, int], count: int, timeout: float = 30) -> list[deadletter_pb2.DeadLetter]:
    consumer = Consumer({**kafka_client_settings(), "group.id": uuid.uuid4().hex, "enable.auto.commit": False})
    consumer.assign([TopicPartition(DEADLETTER, p, offset) for p, offset in since.items()])
    found: list[deadletter_pb2.DeadLetter] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            letter = deadletter_pb2.DeadLetter.FromString(message.value())
            if letter.source_topic == topic:
                found.append(letter)
    consumer.close()
    return found


class Recorder:
    """Handles events and remembers what it saw, from the consumer's thread."""

    def __init__(self, fail_first: int = 0):
        self.handled: list[tuple[documents_pb2.DocumentEvent, trace.SpanContext]] = []
        self.attempts = 0
        self.fail_first = fail_first
        self.done = threading.Event()

    def __call__(self, received: ReceivedEvent) -> None:
        self.attempts += 1
        if self.attempts <= self.fail_first:
            raise TransientError("guardrail is down")
        self.handled.append((received.decode(documents_pb2.DocumentEvent), trace.get_current_span().get_span_context()))
        self.done.set()


def run_consumer(topic: str, handle: Recorder) -> tuple[EventConsumer, EventProducer, threading.Thread]:
    producer = EventProducer("test")
    consumer = EventConsumer("test-consumer", f"test-{uuid.uuid4().hex}", [topic], producer)
    thread = threading.Thread(target=consumer.run, args=(per_event(handle, consumer),), daemon=True)
    thread.start()
    return consumer, producer, thread


def wait_until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_consumer_span_is_a_child_of_the_producer_span(topic, spans):
    recorder = Recorder()
    consumer, producer, thread = run_consumer(topic, recorder)
    with trace.get_tracer("test").start_as_current_span("upstream change") as upstream:
        producer.publish(topic, "acme/doc-1", document("doc-1"))
        producer.flush()
    try:
        assert recorder.done.wait(30), "the event was not consumed"
    finally:
        consumer.stop()
        thread.join(10)

    _, seen = recorder.handled[0]
    assert seen.trace_id == upstream.get_span_context().trace_id
    finished = {span.name: span for span in spans.get_finished_spans() if span.context.trace_id == seen.trace_id}
    send, process = finished[f"send {topic}"], finished[f"process {topic}"]
    assert send.parent.span_id == upstream.get_span_context().span_id
    assert process.parent.span_id == send.context.span_id
    assert process.kind == trace.SpanKind.CONSUMER and process.attributes["messaging.destination.name"] == topic


def test_bad_events_go_to_the_dead_letter_topic_and_the_consumer_goes_on(topic, spans):
    since = dead_letter_offsets()
    garbage = b"\x08\x96\x01 not a protobuf \xff\xff"
    raw = Producer(kafka_client_settings())
    raw.produce(topic, key=b"acme/garbage", value=garbage)
    raw.flush(10)
    producer = EventProducer("test")
    wrong = chunks_pb2.ChunkEvent(document_id="doc-x")
    producer.publish(topic, "acme/doc-x", wrong)
    producer.publish(topic, "acme/doc-2", document("doc-2"))
    producer.flush()

    recorder = Recorder()
    consumer, _, thread = run_consumer(topic, recorder)
    try:
        assert recorder.done.wait(30), "the valid event after the bad ones was not processed"
    finally:
        consumer.stop()
        thread.join(10)

    assert [event.document_id for event, _ in recorder.handled] == ["doc-2"]
    letters = dead_letters_from(topic, since, count=2)
    by_value = {letter.original_value: letter for letter in letters}
    assert by_value[garbage].stage == "decode"
    assert "not a valid ragline.v1.DocumentEvent" in by_value[garbage].reason
    assert by_value[garbage].consumer == "test-consumer"
    assert by_value[garbage].original_key == b"acme/garbage"
    mistyped = by_value[wrong.SerializeToString()]
    assert mistyped.reason == "message type ragline.v1.ChunkEvent on a topic that carries ragline.v1.DocumentEvent"


def test_a_transient_failure_is_retried_and_the_event_is_not_lost(topic, spans):
    producer = EventProducer("test")
    producer.publish(topic, "acme/doc-3", document("doc-3"))
    producer.flush()
    recorder = Recorder(fail_first=2)
    consumer, _, thread = run_consumer(topic, recorder)
    try:
        assert wait_until(lambda: recorder.handled, timeout=40), "the event was dropped after a transient failure"
    finally:
        consumer.stop()
        thread.join(10)
    assert recorder.attempts == 3
    assert [event.document_id for event, _ in recorder.handled] == ["doc-3"]
