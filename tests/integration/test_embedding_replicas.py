"""Two embedding replicas in one consumer group, as processes on the real
broker: they split the partitions, and while a few hundred chunk events stream
in, one replica is stopped (SIGTERM), restarted, killed (kill -9) and
restarted. Every chunk event must still produce its embedding event
(duplicates are allowed, a missing one is not)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import grpc
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ragline.auth import TokenSettings, init_keys
from ragline.config import kafka_client_settings, repo_root
from ragline.kafka import CHUNKS, EMBEDDINGS, EventProducer
from ragline.v1 import chunks_pb2, common_pb2, embeddings_pb2

pytestmark = pytest.mark.integration

EVENTS = 300
SENTENCES = [
    "Forklifts must stay below ten kilometres per hour inside the warehouse.",
    "The NW-7 picker battery lasts about nine hours on one charge.",
    "Expense reports are due on the fifth working day of each month.",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def end_offsets(topic: str) -> list[TopicPartition]:
    consumer = Consumer({**kafka_client_settings(), "group.id": uuid.uuid4().hex})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = [TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]) for p in partitions]
    consumer.close()
    return ends


def start_group_at_the_end(group: str, topic: str) -> None:
    """Commit the topic's end offsets for a new group, so that it sees only this test's events."""
    consumer = Consumer({**kafka_client_settings(), "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=end_offsets(topic), asynchronous=False)
    consumer.close()


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
    def __init__(self, name: str, env: dict[str, str], logs: Path):
        self.name = name
        self.port = free_port()
        self._env = {**env, "RAGLINE_EMBEDDING_PORT": str(self.port)}
        self._logs = logs
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self._logs / f"{self.name}.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.embedding"],
                cwd=repo_root(),
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    time.sleep(0.3)
        tail = (self._logs / f"{self.name}.log").read_text(errors="replace")[-3000:]
        raise AssertionError(f"replica {self.name} did not become ready:\n{tail}")

    def stop(self, sig: int) -> int:
        assert self.process is not None
        os.kill(self.process.pid, sig)
        return self.process.wait(60)


def group_assignment(group: str) -> list[set[int]]:
    """The partitions of the chunks topic that each member of the group holds."""
    admin = AdminClient(kafka_client_settings())
    description = admin.describe_consumer_groups([group], request_timeout=30)[group].result(60)
    return [
        {tp.partition for tp in member.assignment.topic_partitions if tp.topic == CHUNKS}
        for member in description.members
    ]


@pytest.fixture
def replica_env(tmp_path) -> dict[str, str]:
    group = f"ragline-embedding-test-{uuid.uuid4().hex[:8]}"
    start_group_at_the_end(group, CHUNKS)
    env = {
        **os.environ,
        "RAGLINE_DATA_DIR": str(tmp_path),
        "RAGLINE_EMBEDDING_GROUP": group,
        "RAGLINE_EMBEDDING_BATCH_CHUNKS": "16",
        "RAGLINE_EMBEDDING_BATCH_WAIT_S": "0.1",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "PYTHONPATH": os.pathsep.join([str(repo_root()), str(repo_root() / "libs")]),
    }
    previous = os.environ.get("RAGLINE_DATA_DIR")
    os.environ["RAGLINE_DATA_DIR"] = str(tmp_path)
    init_keys(TokenSettings.from_env())
    if previous is None:
        os.environ.pop("RAGLINE_DATA_DIR")
    else:
        os.environ["RAGLINE_DATA_DIR"] = previous
    return env


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
    first, second = Replica("first", replica_env, tmp_path), Replica("second", replica_env, tmp_path)
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
            if replica.process is not None and replica.process.poll() is None:
                replica.stop(signal.SIGTERM)
    missing = sorted({f"doc-{number:03d}" for number in range(EVENTS)} - set(seen))
    assert not missing, f"{len(missing)} chunk events produced no embedding event: {missing[:10]}"
