"""`ragline deadletters list|replay`: what the consumers refused and why, and
sending it again once the cause is fixed.

A dead letter keeps the refused event's key, value and headers. `replay`
publishes them again, unchanged, to the topic the event came from, adding one
header that names the dead letter (`ragline-replayed-from`), so the consumer
processes the event as if it had just arrived. Processing is idempotent, so a
replayed event that had meanwhile been processed changes nothing; one that
fails again lands on the dead-letter topic again, at a new offset.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition
from google.protobuf.message import DecodeError

from ragline.config import kafka_client_settings
from ragline.kafka import DEADLETTER, EventProducer
from ragline.v1 import deadletter_pb2

REPLAYED_FROM_HEADER = "ragline-replayed-from"
_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class StoredLetter:
    """A dead letter and where it is stored on the dead-letter topic."""

    partition: int
    offset: int
    letter: deadletter_pb2.DeadLetter

    @property
    def address(self) -> str:
        return f"{DEADLETTER}@{self.partition}:{self.offset}"


def read_dead_letters(
    stage: str | None = None, consumer: str | None = None, offset_from: int = 0, timeout_s: float = _TIMEOUT_S
) -> list[StoredLetter]:
    """The dead letters at or after `offset_from` (in each partition) up to the end
    of the topic when called, oldest first, of the given stage and consumer."""
    settings = kafka_client_settings()
    settings.update({"group.id": f"ragline-cli-{uuid.uuid4().hex}", "enable.auto.commit": False})
    reader = Consumer(settings)
    try:
        topic = reader.list_topics(DEADLETTER, timeout=timeout_s).topics[DEADLETTER]
        if topic.error is not None:
            raise KafkaException(topic.error)
        ends: dict[int, int] = {}
        starts = []
        for partition in topic.partitions:
            low, high = reader.get_watermark_offsets(TopicPartition(DEADLETTER, partition), timeout=timeout_s)
            start = max(low, offset_from)
            if start < high:
                ends[partition] = high
                starts.append(TopicPartition(DEADLETTER, partition, start))
        reader.assign(starts)
        letters: list[StoredLetter] = []
        unreadable = 0
        while ends:
            message = reader.poll(timeout_s)
            if message is None:
                missing = ", ".join(f"partition {p} up to offset {end - 1}" for p, end in sorted(ends.items()))
                raise TimeoutError(f"{DEADLETTER} did not deliver {missing} within {timeout_s:g} s")
            if message.error() is not None:
                raise KafkaException(message.error())
            if message.offset() + 1 >= ends[message.partition()]:
                del ends[message.partition()]
            try:
                letter = deadletter_pb2.DeadLetter.FromString(message.value() or b"")
            except DecodeError:
                unreadable += 1
                continue
            if (stage is None or letter.stage == stage) and (consumer is None or letter.consumer == consumer):
                letters.append(StoredLetter(message.partition(), message.offset(), letter))
        if unreadable:
            print(f"skipped {unreadable} message(s) on {DEADLETTER} that are not DeadLetters", file=sys.stderr)
        return sorted(letters, key=lambda stored: (stored.letter.failed_at.ToNanoseconds(), stored.partition, stored.offset))
    finally:
        reader.close()


def replay(letters: list[StoredLetter], producer: EventProducer) -> None:
    """Publish each letter's original event to its source topic; raise if Kafka does not take them all."""
    for stored in letters:
        letter = stored.letter
        headers = {**letter.original_headers, REPLAYED_FROM_HEADER: stored.address}
        producer.publish_raw(letter.source_topic, letter.original_key or None, letter.original_value, headers)
    producer.flush()


def describe(stored: StoredLetter) -> str:
    letter = stored.letter
    key = letter.original_key.decode("utf-8", "replace") or "(no key)"
    return (
        f"#{stored.offset} {letter.failed_at.ToJsonString()} [{letter.consumer}/{letter.stage}] "
        f"{letter.source_topic}@{letter.source_partition}:{letter.source_offset} {key}: {letter.reason}"
    )


def cmd_list(args: argparse.Namespace) -> int:
    letters = read_dead_letters(args.stage, args.consumer)
    shown = letters[-args.limit :] if args.limit else letters
    for stored in shown:
        print(describe(stored))
    print(f"{len(shown)} of {len(letters)} dead letter(s) shown")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    letters = read_dead_letters(args.stage, args.consumer, args.offset_from)
    if args.dry_run:
        for stored in letters:
            print(f"would replay {describe(stored)}")
        print(f"{len(letters)} dead letter(s) would be replayed")
        return 0
    try:
        replay(letters, EventProducer("ragline-cli"))
    except KafkaException as error:
        print(f"replay failed: {error}", file=sys.stderr)
        return 1
    for stored in letters:
        print(f"replayed #{stored.offset} to {stored.letter.source_topic}")
    topics = sorted({stored.letter.source_topic for stored in letters})
    print(f"{len(letters)} dead letter(s) replayed" + (f" to {', '.join(topics)}" if topics else ""))
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add `deadletters list` and `deadletters replay` to the `ragline` command's subcommands."""
    parser = commands.add_parser("deadletters", help="list refused events and why, replay them after a fix")
    actions = parser.add_subparsers(dest="deadletters_command", required=True)

    listing = actions.add_parser("list", help="print dead letters, oldest first")
    _filters(listing)
    listing.add_argument("--limit", type=_count, default=50, help="print only the newest N (default 50, 0 for all)")
    listing.set_defaults(func=cmd_list)

    again = actions.add_parser("replay", help="publish refused events again to the topic they came from")
    _filters(again)
    again.add_argument(
        "--offset-from", type=_count, default=0, help="only dead letters at this offset of the dead-letter topic or later"
    )
    again.add_argument("--dry-run", action="store_true", help="print what would be replayed, publish nothing")
    again.set_defaults(func=cmd_replay)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", help="only this stage (decode, validate, fetch, parse, screen, publish, ...)")
    parser.add_argument("--consumer", help="only dead letters of this consumer (ingest, embedding, retrieval, audit)")


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value
