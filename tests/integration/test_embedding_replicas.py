"""Two embedding replicas in one consumer group, as processes on the real
broker: they split the partitions, and while a few hundred chunk events stream
in, one replica is stopped (SIGTERM), restarted, killed (kill -9) and
restarted. Every chunk event must still produce its embedding event
(duplicates are allowed, a missing one is not)."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from ragline.auth import TokenSettings, init_keys
from ragline.cli.launcher import ServiceLauncher, end_offsets, free_port, start_group_at_end
from ragline.config import kafka_client_settings
from ragline.kafka import CHUNKS, EMBEDDINGS, EventProducer
from ragline.v1 import chunks_pb2, common_pb2, embeddings_pb2

pytestmark = pytest.mark.integration

EVENTS = 300
SENTENCES = [
    "Forklifts must stay below ten kilometres per hour inside the warehouse.",
    "The NW-7 picker battery lasts about nine hours on one charge.",
    "Expense reports are due on the fifth working day of each month.",
]


def chunk_event(tenant: str, number: int) -> chunks_pb2.ChunkEvent:
    document_id = f"doc-{number:03d}"
    event = chunks_pb2.ChunkEvent(document_id=document_id, document_version=1)
    event.header.CopyFrom(common_pb2.EventHeader(event_id=uuid.uuid4().hex, tenant=tenant))
    for ordinal in range(1 + number % 3):
        event.upsert.chunks.add(
            chunk_id=f"{tenant}/{document_id}/{ordinal}",
            document_id=document_id,
            ordinal=ordinal,
            text=f"{SENTENCES[(number + ordinal) % 3]} ({document_id}, part {ordinal})",
        )
    return event


class Replica:
    """One embedding process with a port and run folder (pid file, log) of its own."""

    def __init__(self, run_dir: Path, env: dict[str, str]):
        self._launcher = ServiceLauncher(run_dir, {**env, "RAGLINE_EMBEDDING_PORT": str(free_port())})

    def start(self) -> None:
        self._launcher.start("embedding")
        self._launcher.wait_ready("embedding")

    def stop(self, sig: int) -> int | None:
        """The exit status."""
        return self._launcher.stop("embedding", timeout=60, sig=sig)


def group_assignment(group: str) -> list[set[int]]:
    """The partitions of the chunks topic that each member of the group holds."""
    admin = AdminClient(kafka_client_settings())
    description = admin.describe_consumer_groups([group], request_timeout=30)[group].result(60)
    return [
        {tp.partition for tp in member.assignment.topic_partitions if tp.topic == CHUNKS}
        for member in description.members
    ]


@pytest.fixture
def replica_env(tmp_path, monkeypatch) -> dict[str, str]:
    group = f"ragline-embedding-test-{uuid.uuid4().hex[:8]}"
    start_group_at_end(group, CHUNKS)
    monkeypatch.setenv("RAGLINE_DATA_DIR", str(tmp_path))
    init_keys(TokenSettings.from_env())
    return {
        "RAGLINE_DATA_DIR": str(tmp_path),
        "RAGLINE_EMBEDDING_GROUP": group,
        "RAGLINE_EMBEDDING_BATCH_CHUNKS": "16",
        "RAGLINE_EMBEDDING_BATCH_WAIT_S": "0.1",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
    }


def embedded_documents(tenant: str, since: list[TopicPartition], expected: int, timeout: float) -> dict[str, int]:
    """Document id -> how many embedding events it got, read until `expected` documents were seen."""
    consumer = Consumer({**kafka_client_settings(), "group.id": uuid.uuid4().hex, "enable.auto.commit": False})
    consumer.assign(since)
    seen: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < expected and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        event = embeddings_pb2.EmbeddingEvent.FromString(message.value())
        if event.header.tenant == tenant:
            assert len(event.upsert.chunks) == 1 + int(event.document_id[-3:]) % 3
            assert all(len(chunk.vector) == 384 for chunk in event.upsert.chunks)
            seen[event.document_id] = seen.get(event.document_id, 0) + 1
    consumer.close()
    return seen


def test_two_replicas_split_the_partitions_and_lose_nothing_across_stops_and_kills(replica_env, tmp_path):
    tenant = f"replicas-{uuid.uuid4().hex[:8]}"
    since = end_offsets(EMBEDDINGS)
    first, second = Replica(tmp_path / "first", replica_env), Replica(tmp_path / "second", replica_env)
    published = threading.Event()
    progress = [0]

    def stream() -> None:
        producer = EventProducer("test-upstream")
        for number in range(EVENTS):
            event = chunk_event(tenant, number)
            producer.publish(CHUNKS, f"{tenant}/{event.document_id}", event)
            progress[0] = number + 1
            time.sleep(0.05)
        producer.flush()
        published.set()

    def wait_published(count: int) -> None:
        deadline = time.monotonic() + 60
        while progress[0] < count and time.monotonic() < deadline:
            time.sleep(0.05)

    try:
        first.start()
        second.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and [bool(p) for p in group_assignment(replica_env["RAGLINE_EMBEDDING_GROUP"])] != [True, True]:
            time.sleep(0.5)
        shares = group_assignment(replica_env["RAGLINE_EMBEDDING_GROUP"])
        assert len(shares) == 2 and all(shares), f"the replicas do not both hold partitions: {shares}"
        assert shares[0].isdisjoint(shares[1]) and shares[0] | shares[1] == {0, 1, 2}

        streamer = threading.Thread(target=stream, daemon=True)
        streamer.start()
        wait_published(EVENTS // 3)
        assert second.stop(signal.SIGTERM) == 0, "SIGTERM did not stop the replica cleanly"
        second.start()
        wait_published(2 * EVENTS // 3)
        second.stop(signal.SIGKILL)
        second.start()
        assert published.wait(120), "the upstream stream did not finish"

        # A killed member keeps its partitions until its session times out (45 s by default).
        seen = embedded_documents(tenant, since, EVENTS, timeout=180)
    finally:
        for replica in (first, second):
            replica.stop(signal.SIGTERM)
    missing = sorted({f"doc-{number:03d}" for number in range(EVENTS)} - set(seen))
    assert not missing, f"{len(missing)} chunk events produced no embedding event: {missing[:10]}"
