"""`ragline deadletters list|replay` against the real broker: dead letters written
by a real consumer are listed with stage and reason, and replayed to their
source topic with their original key, value and headers."""

from __future__ import annotations

import argparse
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from opentelemetry import trace

from ragline.cli import deadletters
from ragline.config import kafka_client_settings
from ragline.kafka import DEADLETTER, MESSAGE_TYPE_HEADER, EventConsumer, EventProducer, ReceivedEvent, RejectedEvent, per_event
from ragline.v1 import common_pb2, documents_pb2

pytestmark = pytest.mark.integration


def run_cli(capsys, *argv: str) -> list[str]:
    parser = argparse.ArgumentParser(prog="ragline")
    deadletters.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["deadletters", *argv])
    assert args.func(args) == 0
    return capsys.readouterr().out.splitlines()


def event(document_id: str) -> documents_pb2.DocumentEvent:
    return documents_pb2.DocumentEvent(
        header=common_pb2.EventHeader(event_id=uuid.uuid4().hex, tenant="acme"),
        document_id=document_id,
        delete=documents_pb2.DocumentDelete(),
    )


class Gate:
    """Refuses "too-big" documents until the limit is raised, and "broken" ones always."""

    def __init__(self) -> None:
        self.limit_raised = False
        self.accepted: list[tuple[bytes, bytes, dict[str, str]]] = []
        self.lock = threading.Lock()

    def __call__(self, received: ReceivedEvent) -> None:
        document = received.decode(documents_pb2.DocumentEvent)
        if document.document_id.startswith("too-big") and not self.limit_raised:
            raise RejectedEvent("validate", f"{document.document_id} is above the limit", "acme")
        if document.document_id.startswith("broken"):
            raise RejectedEvent("parse", f"{document.document_id} cannot be parsed", "acme")
        with self.lock:
            self.accepted.append((received.message.key(), received.value, dict(received.headers)))


def wait_until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def end_offset(topic: str) -> int:
    reader = Consumer({**kafka_client_settings(), "group.id": uuid.uuid4().hex})
    try:
        return reader.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        reader.close()


def letters_of(name: str, offset_from: int = 0) -> list[deadletters.StoredLetter]:
    return deadletters.read_dead_letters(consumer=name, offset_from=offset_from)


@pytest.fixture
def consuming(topic):
    """A real consumer on a fresh topic, under a name of its own so its dead letters can be told apart."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    gate = Gate()
    producer = EventProducer("test")
    consumer = EventConsumer(name, f"group-{name}", [topic], producer)
    thread = threading.Thread(target=consumer.run, args=(per_event(gate, consumer),), daemon=True)
    thread.start()
    yield name, gate, producer
    consumer.stop()
    thread.join(15)


def test_list_shows_stage_and_reason_and_filters(topic, consuming, capsys):
    name, gate, producer = consuming
    for document_id in ("ok-1", "too-big-1", "broken-1", "too-big-2"):
        producer.publish(topic, f"acme/{document_id}", event(document_id))
    producer.flush()
    assert wait_until(lambda: len(letters_of(name)) == 3), "the refused events did not reach the dead-letter topic"

    lines = run_cli(capsys, "list", "--consumer", name)
    assert len(lines) == 4 and lines[-1] == "3 of 3 dead letter(s) shown"
    assert f"[{name}/validate] {topic}@0:1 acme/too-big-1: too-big-1 is above the limit" in lines[0]
    assert f"[{name}/parse] {topic}@0:2 acme/broken-1: broken-1 cannot be parsed" in lines[1]
    assert all(line.startswith("#") for line in lines[:3])

    assert run_cli(capsys, "list", "--consumer", name, "--stage", "validate", "--limit", "1") == [
        lines[2],
        "1 of 2 dead letter(s) shown",
    ]
    assert run_cli(capsys, "list", "--consumer", name, "--stage", "screen") == ["0 of 0 dead letter(s) shown"]


def test_replay_after_a_fix_republishes_the_original_and_what_fails_again_comes_back(topic, consuming, capsys, spans):
    name, gate, producer = consuming
    with trace.get_tracer("test").start_as_current_span("upstream change"):
        for document_id in ("too-big-1", "broken-1"):
            producer.publish(topic, f"acme/{document_id}", event(document_id))
    producer.flush()
    assert wait_until(lambda: len(letters_of(name)) == 2)
    first = {stored.letter.original_key: stored for stored in letters_of(name)}

    published = end_offset(topic)
    lines = run_cli(capsys, "replay", "--consumer", name, "--dry-run")
    assert lines[-1] == "2 dead letter(s) would be replayed" and lines[0].startswith("would replay #")
    time.sleep(1.0)
    assert end_offset(topic) == published, "a dry run published something"

    gate.limit_raised = True
    lines = run_cli(capsys, "replay", "--consumer", name)
    assert lines[-1] == f"2 dead letter(s) replayed to {topic}"
    assert wait_until(lambda: gate.accepted), "the replayed event was not processed after the fix"

    key, value, headers = gate.accepted[0]
    too_big = first[b"acme/too-big-1"]
    assert (key, value) == (b"acme/too-big-1", too_big.letter.original_value)
    assert too_big.letter.original_headers[MESSAGE_TYPE_HEADER] == "ragline.v1.DocumentEvent"
    assert "traceparent" in too_big.letter.original_headers
    assert headers == {**too_big.letter.original_headers, deadletters.REPLAYED_FROM_HEADER: too_big.address}

    # The broken one fails again and comes back as a new dead letter with the same original bytes.
    assert wait_until(lambda: len(letters_of(name)) == 3)
    again = letters_of(name, offset_from=max(stored.offset for stored in first.values()) + 1)
    assert [stored.letter.original_key for stored in again] == [b"acme/broken-1"]
    assert again[0].letter.original_value == first[b"acme/broken-1"].letter.original_value
    assert again[0].letter.source_offset > first[b"acme/broken-1"].letter.source_offset

    lines = run_cli(capsys, "replay", "--consumer", name, "--offset-from", str(again[0].offset), "--dry-run")
    assert lines[-1] == "1 dead letter(s) would be replayed" and "acme/broken-1" in lines[0]


def test_a_message_on_the_dead_letter_topic_that_is_no_dead_letter_is_skipped(consuming, capsys):
    name, _, producer = consuming
    producer.publish_raw(DEADLETTER, b"x", b"\xff\xff not a dead letter", {})
    producer.flush()
    assert run_cli(capsys, "list", "--consumer", name) == ["0 of 0 dead letter(s) shown"]
