"""Kafka plumbing shared by every producer and consumer.

Trace context travels in W3C `traceparent`/`tracestate` message headers. A
consumer's processing span is a child of the producer's span, so one document
is one trace across every hop; the stock instrumentation only links them.
Offsets are stored only after a message was handled and whatever it produced
was acknowledged by the broker, so a crash replays rather than loses.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import grpc
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ragline.config import env_int, kafka_client_settings
from ragline.v1 import deadletter_pb2

log = logging.getLogger(__name__)
tracer = trace.get_tracer("ragline.kafka")

DOCUMENTS = "ragline.documents.v1"
CHUNKS = "ragline.chunks.v1"
EMBEDDINGS = "ragline.embeddings.v1"
AUDIT = "ragline.audit.v1"
DEADLETTER = "ragline.deadletter.v1"
FEEDBACK = "ragline.feedback.v1"

# Partitions per topic. Keys keep one document's events on one partition.
TOPICS = {DOCUMENTS: 3, CHUNKS: 3, EMBEDDINGS: 3, AUDIT: 3, DEADLETTER: 1, FEEDBACK: 1}

MESSAGE_TYPE_HEADER = "ragline-message-type"


def ensure_topics(timeout: float = 30.0) -> list[str]:
    """Create the Ragline topics that do not exist yet; return the ones created.

    Topics are created explicitly because the broker runs with auto-creation
    off: a typo in a topic name fails loudly instead of creating a new topic.
    """
    admin = AdminClient(kafka_client_settings())
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [NewTopic(name, num_partitions=count, replication_factor=1) for name, count in TOPICS.items() if name not in existing]
    created = []
    for name, future in admin.create_topics(missing, operation_timeout=timeout).items() if missing else []:
        try:
            future.result()
            created.append(name)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created


def _header_dict(headers: Sequence[tuple[str, bytes | None]] | None) -> dict[str, str]:
    result = {}
    for key, value in headers or ():
        if value is not None:
            result[key] = value.decode("utf-8", errors="replace")
    return result


class RejectedEvent(Exception):
    """An event that can never be processed; it goes to the dead-letter topic."""

    def __init__(self, stage: str, reason: str, tenant: str = ""):
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason
        self.tenant = tenant


def now_timestamp() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


@contextmanager
def _send_span(topic: str, key: str) -> Iterator[None]:
    with tracer.start_as_current_span(
        f"send {topic}",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
            "messaging.destination.name": topic,
            "messaging.kafka.message.key": key,
        },
    ):
        yield


def _headers(event: ProtoMessage) -> list[tuple[str, str]]:
    """Message type and the current trace context, as Kafka headers."""
    headers: dict[str, str] = {MESSAGE_TYPE_HEADER: event.DESCRIPTOR.full_name}
    propagate.inject(headers)
    return list(headers.items())


class EventProducer:
    """Publishes protobuf events with trace context in the headers."""

    def __init__(self, client_id: str):
        settings = kafka_client_settings()
        settings.update(
            {
                "client.id": client_id,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                # At most what the broker accepts (message.max.bytes in infra/kafka.sh).
                "message.max.bytes": env_int("RAGLINE_KAFKA_MAX_MESSAGE_BYTES", 32 << 20, minimum=1 << 20),
            }
        )
        self._producer = Producer(settings)
        self._failures: list[str] = []
        self._lock = threading.Lock()

    def publish(self, topic: str, key: str, event: ProtoMessage) -> None:
        """Queue an event; `flush()` confirms it reached the broker."""
        with _send_span(topic, key):
            self._producer.produce(
                topic, key=key.encode(), value=event.SerializeToString(), headers=_headers(event), on_delivery=self._delivered
            )
            self._producer.poll(0)

    def publish_and_wait(self, topic: str, key: str, event: ProtoMessage, timeout: float = 30.0) -> tuple[int, int]:
        """Publish one event and return its (partition, offset) once stored."""
        result: dict[str, object] = {}
        # Threads share the producer: another caller's poll may run this
        # callback, so an empty queue after flush() would not prove it ran.
        acknowledged = threading.Event()

        def delivered(error: KafkaError | None, message: Message) -> None:
            result["error"] = error
            result["message"] = message
            acknowledged.set()

        with _send_span(topic, key):
            self._producer.produce(
                topic, key=key.encode(), value=event.SerializeToString(), headers=_headers(event), on_delivery=delivered
            )
            deadline = time.monotonic() + timeout
            while not acknowledged.is_set() and time.monotonic() < deadline:
                self._producer.poll(0.05)
        if not acknowledged.is_set():
            raise TimeoutError(f"no acknowledgement from Kafka for {topic} within {timeout:.0f}s")
        if result["error"] is not None:
            raise KafkaException(result["error"])
        message: Message = result["message"]  # type: ignore[assignment]
        return message.partition(), message.offset()

    def publish_raw(self, topic: str, key: bytes | None, value: bytes | None, headers: dict[str, str]) -> None:
        self._producer.produce(topic, key=key, value=value, headers=list(headers.items()), on_delivery=self._delivered)
        self._producer.poll(0)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            log.error("event not delivered", extra={"fields": {"topic": message.topic(), "error": error.str()}})
            with self._lock:
                self._failures.append(f"{message.topic()}: {error.str()}")

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued event is acknowledged; raise if any was not."""
        remaining = self._producer.flush(timeout)
        with self._lock:
            failures, self._failures = self._failures, []
        if remaining:
            detail = f"; failed before: {'; '.join(failures[:5])}" if failures else ""
            raise KafkaException(
                KafkaError(KafkaError._MSG_TIMED_OUT, f"{remaining} events not acknowledged in {timeout:.0f}s{detail}")
            )
        if failures:
            raise KafkaException(KafkaError(KafkaError._FAIL, "; ".join(failures[:5])))


@dataclass
class ReceivedEvent:
    """One consumed message, with the span that covers its processing."""

    message: Message
    span: trace.Span
    context: otel_context.Context
    headers: dict[str, str] = field(default_factory=dict)
    rejected: bool = False

    @property
    def topic(self) -> str:
        return self.message.topic()

    @property
    def value(self) -> bytes:
        return self.message.value() or b""

    def decode(self, message_type: type[ProtoMessage]) -> ProtoMessage:
        """Parse the value as `message_type`, or reject the event."""
        declared = self.headers.get(MESSAGE_TYPE_HEADER)
        expected = message_type.DESCRIPTOR.full_name
        if declared and declared != expected:
            raise RejectedEvent("decode", f"message type {declared} on a topic that carries {expected}")
        if not self.value:
            raise RejectedEvent("decode", "empty message value")
        event = message_type()
        try:
            event.ParseFromString(self.value)
        except DecodeError as error:
            raise RejectedEvent("decode", f"not a valid {expected}: {error}") from None
        return event

    @contextmanager
    def activate(self) -> Iterator[None]:
        """Make this event's processing span the current one."""
        token = otel_context.attach(self.context)
        try:
            yield
        finally:
            otel_context.detach(token)


class TransientError(Exception):
    """Processing failed for a reason that may pass (a dependency is down): retry."""


BatchHandler = Callable[[list[ReceivedEvent]], None]
# How much of a batch one message fills (the embedding service counts chunks).
Weigh = Callable[[Message], int]
# How long one poll waits while idle before checking whether to stop.
IDLE_POLL_S = 0.5


class EventConsumer:
    """Consumes topics in a consumer group and hands batches to a handler.

    The handler rejects single events with `reject()` (they go to the dead
    letter topic) and raises TransientError, a gRPC UNAVAILABLE or a Kafka
    error to have the whole batch retried after a pause.
    """

    def __init__(self, name: str, group_id: str, topics: Sequence[str], producer: EventProducer):
        settings = kafka_client_settings()
        settings.update(
            {
                "group.id": group_id,
                "client.id": name,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": True,
                "enable.auto.offset.store": False,
                "partition.assignment.strategy": "cooperative-sticky",
                # A consumer killed without leaving the group keeps its partitions
                # until its session expires (librdkafka's default: 45 s); the crash
                # test saw every kill -9 stall its stage that long.
                "session.timeout.ms": env_int("RAGLINE_KAFKA_SESSION_TIMEOUT_MS", 10000, minimum=6000),
            }
        )
        self._consumer = Consumer(settings)
        self._consumer.subscribe(list(topics))
        self._name = name
        self._group_id = group_id
        self._producer = producer
        self._stopping = threading.Event()

    def reject(self, event: ReceivedEvent, stage: str, reason: str, tenant: str = "") -> None:
        """Send an event to the dead-letter topic with the reason, and move on."""
        event.rejected = True
        event.span.set_status(Status(StatusCode.ERROR, f"{stage}: {reason}"))
        event.span.set_attribute("ragline.deadletter.reason", reason)
        message = event.message
        letter = deadletter_pb2.DeadLetter(
            source_topic=message.topic(),
            source_partition=message.partition(),
            source_offset=message.offset(),
            original_key=message.key() or b"",
            original_value=message.value() or b"",
            original_headers=event.headers,
            stage=stage,
            reason=reason,
            consumer=self._name,
            failed_at=now_timestamp(),
            tenant=tenant,
        )
        log.warning(
            "event rejected",
            extra={"fields": {"topic": message.topic(), "offset": message.offset(), "stage": stage, "reason": reason}},
        )
        with event.activate():
            self._producer.publish(DEADLETTER, (message.key() or b"").decode("utf-8", "replace"), letter)

    def run(self, handler: BatchHandler, batch_size: int = 1, batch_wait: float = 0.5, weigh: Weigh | None = None) -> None:
        """Consume until `stop()`; then commit what was processed and close.

        Without `weigh`, a batch is the first message to arrive within
        `batch_wait` plus whatever had already arrived, up to `batch_size`:
        a lone event is never held back. With `weigh`, a batch closes when its
        messages weigh `batch_size`, or `batch_wait` after its first message
        arrived, whichever comes first; the message that crosses the limit
        still joins.
        """
        try:
            while not self._stopping.is_set():
                batch = self._take(batch_size, batch_wait) if weigh is None else self._collect(batch_size, batch_wait, weigh)
                if batch:
                    self._process(batch, handler)
        finally:
            self._consumer.close()

    def start(
        self, handler: BatchHandler, batch_size: int = 1, batch_wait: float = 0.5, weigh: Weigh | None = None
    ) -> threading.Thread:
        """Run in a background thread. If consuming fails for good, the whole
        process is asked to stop, so that a supervisor restarts it rather than
        leaving a server up whose consumer is dead."""

        def run() -> None:
            try:
                self.run(handler, batch_size, batch_wait, weigh)
            except Exception:
                log.exception("consumer failed; stopping the process")
                os.kill(os.getpid(), signal.SIGTERM)

        thread = threading.Thread(target=run, name=f"{self._name}-consumer", daemon=True)
        thread.start()
        return thread

    def _take(self, limit: int, wait_s: float) -> list[Message]:
        first = self._consumer.poll(wait_s)
        if first is None:
            return []
        messages = [first]
        if limit > 1:
            messages += self._consumer.consume(num_messages=limit - 1, timeout=0)
        return [message for message in messages if not self._is_error(message)]

    def _collect(self, limit: int, wait_s: float, weigh: Weigh) -> list[Message]:
        batch: list[Message] = []
        weight = 0
        deadline: float | None = None
        while weight < limit and not self._stopping.is_set():
            timeout = IDLE_POLL_S if deadline is None else deadline - time.monotonic()
            if timeout <= 0:
                break
            message = self._consumer.poll(timeout)
            if message is None:
                if deadline is None:
                    break
                continue
            if self._is_error(message):
                continue
            if deadline is None:
                deadline = time.monotonic() + wait_s
            batch.append(message)
            weight += weigh(message)
        # A rebalance between polls may have taken partitions away: their
        # messages belong to the new owner, which starts from the committed offset.
        assigned = {(partition.topic, partition.partition) for partition in self._consumer.assignment()}
        return [message for message in batch if (message.topic(), message.partition()) in assigned]

    def stop(self) -> None:
        self._stopping.set()

    def _is_error(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            return False
        if error.code() != KafkaError._PARTITION_EOF:
            log.error("consumer error", extra={"fields": {"error": error.str()}})
        return True

    def _process(self, batch: list[Message], handler: BatchHandler) -> None:
        events = [self._receive(message) for message in batch]
        try:
            handler(events)
            self._producer.flush()
        except Exception as error:  # noqa: BLE001 - decides between retry and dead letter below
            if not _is_transient(error):
                raise
            log.warning("batch will be retried", extra={"fields": {"error": str(error)}})
            for event in events:
                event.span.set_status(Status(StatusCode.ERROR, f"retrying: {error}"))
                event.span.end()
            self._rewind(batch)
            self._stopping.wait(2.0)
            return
        for event in events:
            event.span.end()
        self._consumer.store_offsets(offsets=[TopicPartition(m.topic(), m.partition(), m.offset() + 1) for m in batch])

    def _receive(self, message: Message) -> ReceivedEvent:
        headers = _header_dict(message.headers())
        parent = propagate.extract(headers)
        span = tracer.start_span(
            f"process {message.topic()}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.destination.name": message.topic(),
                "messaging.destination.partition.id": str(message.partition()),
                "messaging.kafka.offset": message.offset(),
                "messaging.consumer.group.name": self._group_id,
            },
        )
        return ReceivedEvent(message=message, span=span, context=trace.set_span_in_context(span, parent), headers=headers)

    def _rewind(self, batch: list[Message]) -> None:
        first: dict[tuple[str, int], int] = {}
        for message in batch:
            key = (message.topic(), message.partition())
            first[key] = min(first.get(key, message.offset()), message.offset())
        for (topic, partition), offset in first.items():
            self._consumer.seek(TopicPartition(topic, partition, offset))


def _is_transient(error: Exception) -> bool:
    if isinstance(error, (TransientError, KafkaException)):
        return True
    code = getattr(error, "code", None)
    if callable(code):
        return code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED)
    return False


def per_event(handle: Callable[[ReceivedEvent], None], consumer: EventConsumer) -> BatchHandler:
    """Adapt a one-event handler: rejections and unexpected errors become dead
    letters, transient errors propagate so that the batch is retried."""

    def handle_batch(events: list[ReceivedEvent]) -> None:
        for event in events:
            with event.activate():
                try:
                    handle(event)
                except RejectedEvent as rejection:
                    consumer.reject(event, rejection.stage, rejection.reason, rejection.tenant)
                except Exception as error:  # noqa: BLE001 - a poison event must not stop the consumer
                    if _is_transient(error):
                        raise
                    log.exception("unexpected error processing event")
                    consumer.reject(event, "process", f"unexpected error: {type(error).__name__}: {error}")

    return handle_batch

