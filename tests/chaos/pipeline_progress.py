"""How far each stage of the pipeline has got, read from the broker.

A stage has caught up when its consumer group has committed the end of its
input topic. Since every service stores an offset only after what the event
produced was acknowledged (docs/adr/0001), reading the stages in pipeline order
proves that everything published was carried through to the index.
"""

from __future__ import annotations

import time
import uuid
from typing import Callable, Iterator, TypeVar

from confluent_kafka import Consumer, TopicPartition
from google.protobuf.message import DecodeError, Message

from ragline.cli import launcher
from ragline.config import kafka_client_settings

M = TypeVar("M", bound=Message)


def _consumer(group: str | None = None) -> Consumer:
    return Consumer(
        {
            **kafka_client_settings(),
            "group.id": group or f"chaos-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )


def end_offsets(topic: str) -> dict[int, int]:
    """Partition -> where it ends now."""
    return {end.partition: end.offset for end in launcher.end_offsets(topic)}


def lag(group: str, topic: str) -> int:
    """Events of `topic` the group has not committed yet."""
    ends = end_offsets(topic)
    consumer = _consumer(group)
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in ends], timeout=10)
    finally:
        consumer.close()
    return sum(ends[tp.partition] - max(tp.offset, 0) for tp in committed)


def wait_drained(stages: dict[str, tuple[str, str]], timeout: float, report_every: float = 15.0) -> dict[str, int]:
    """Wait until every stage (name -> group, topic), checked in pipeline order,
    has no lag, printing the lags now and then. Return the lags last seen (all
    zero unless the timeout passed)."""
    started = time.monotonic()
    reported = started
    while True:
        lags = {name: lag(group, topic) for name, (group, topic) in stages.items()}
        if not any(lags.values()) or time.monotonic() - started > timeout:
            return lags
        if time.monotonic() - reported >= report_every:
            reported = time.monotonic()
            print(f"  {reported - started:5.0f}s draining, lag " + ", ".join(f"{name} {count}" for name, count in lags.items()))
        time.sleep(2.0)


def read_since(topic: str, since: dict[int, int], message_type: type[M], keep: Callable[[M], bool]) -> Iterator[M]:
    """Every event of `topic` from the offsets `since` to the current end that `keep` accepts."""
    ends = end_offsets(topic)
    consumer = _consumer()
    consumer.assign([TopicPartition(topic, p, since.get(p, 0)) for p in ends])
    remaining = {p for p, end in ends.items() if end > since.get(p, 0)}
    try:
        while remaining:
            message = consumer.poll(5.0)
            if message is None:
                raise TimeoutError(f"{topic}: no message within 5 s before reaching the end offsets {ends}")
            if message.error() or message.offset() >= ends[message.partition()]:
                continue
            if message.offset() + 1 == ends[message.partition()]:
                remaining.discard(message.partition())
            try:
                event = message_type.FromString(message.value() or b"")
            except DecodeError:
                continue  # another test's garbage: it cannot be one of ours
            if keep(event):
                yield event
    finally:
        consumer.close()
