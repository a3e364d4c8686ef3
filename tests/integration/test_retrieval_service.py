"""The retrieval service as a process, through the real broker, Redis and an
OTLP receiver: the same embedding event delivered twice indexes once, its
freshness is exported as a histogram, and `ragline reindex` rebuilds the index
with the embedding service's model while searches go on."""

from __future__ import annotations

import argparse
import os
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

import grpc
import pytest
import redis
from confluent_kafka import Consumer, TopicPartition

from ragline.auth import TokenMinter, TokenSettings, init_keys
from ragline.cli import reindex
from ragline.cli.launcher import ServiceLauncher, end_offsets, free_port, start_group_at_end
from ragline.cli.otlp import metrics_file_beside, read_metric_points, start_receiver
from ragline.config import kafka_client_settings
from ragline.kafka import AUDIT, CHUNKS, EMBEDDINGS, EventProducer
from ragline.v1 import audit_pb2, chunks_pb2, common_pb2, embeddings_pb2, retrieval_pb2, retrieval_pb2_grpc

pytestmark = pytest.mark.integration

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
OLD_VERSION = "0.0.1+axis"
DOCUMENTS = {
    "battery": "The NW-7 picker runs about nine hours on one battery charge before it returns to its dock.",
    "expenses": "Expense reports are due on the fifth working day of each month, with every receipt attached.",
    "forklifts": "Forklifts must stay below ten kilometres per hour inside the warehouse and sound the horn at crossings.",
}


def axis(i: int) -> list[float]:
    vector = [0.0] * 384
    vector[i] = 1.0
    return vector


def embedding_event(tenant: str, document_id: str, texts: list[str], first_axis: int, published_ms: int = 0):
    """Vectors of an older version of the index's model: unit vectors, one axis per chunk."""
    event = embeddings_pb2.EmbeddingEvent(
        header=common_pb2.EventHeader(event_id=uuid.uuid4().hex, tenant=tenant),
        document_id=document_id,
        document_version=1,
        embedding_model=MODEL,
        embedding_model_version=OLD_VERSION,
    )
    for ordinal, text in enumerate(texts):
        chunk = chunks_pb2.Chunk(
            chunk_id=f"{tenant}/{document_id}/v1/{ordinal}",
            document_id=document_id,
            ordinal=ordinal,
            text=text,
            provenance=common_pb2.Provenance(
                sensitivity=common_pb2.SENSITIVITY_INTERNAL,
                access=common_pb2.AccessList(groups=["all-staff"]),
                document_version=1,
                title=document_id,
            ),
        )
        if published_ms:
            chunk.published_at.FromMilliseconds(published_ms)
        event.upsert.chunks.add(chunk=chunk, vector=axis(first_axis + ordinal))
    return event


class Platform:
    def __init__(self, tmp: Path):
        self.index = f"chunks_{uuid.uuid4().hex[:8]}"
        self.tenant = f"rs-{uuid.uuid4().hex[:8]}"
        self.spans_file = tmp / "spans.jsonl"
        self.otlp_port = free_port()
        self.embedding_port, self.retrieval_port = free_port(), free_port()
        self.env = {
            "RAGLINE_DATA_DIR": str(tmp),
            "RAGLINE_MILVUS_COLLECTION": self.index,
            "RAGLINE_EMBEDDING_PORT": str(self.embedding_port),
            "RAGLINE_EMBEDDING_ADDR": f"127.0.0.1:{self.embedding_port}",
            "RAGLINE_RETRIEVAL_PORT": str(self.retrieval_port),
            "RAGLINE_EMBEDDING_GROUP": f"test-embedding-{uuid.uuid4().hex[:8]}",
            "RAGLINE_RETRIEVAL_GROUP": f"test-retrieval-{uuid.uuid4().hex[:8]}",
            "RAGLINE_RETRIEVAL_REINDEX_POLL_S": "0.5",
            "RAGLINE_MILVUS_TIMEOUT_S": "2",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.otlp_port}",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
        }

    def token(self) -> str:
        return TokenMinter(TokenSettings.from_env()).mint("alice", self.tenant, ("all-staff",), "internal")

    def search(self, port: int | None = None, **fields) -> retrieval_pb2.SearchResponse:
        with grpc.insecure_channel(f"127.0.0.1:{port or self.retrieval_port}") as channel:
            stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
            request = retrieval_pb2.SearchRequest(top_k=10, **fields)
            return stub.Search(request, metadata=[("authorization", f"Bearer {self.token()}")], timeout=20)

    def wait_searchable(self, document_id: str, timeout: float = 60, port: int | None = None) -> retrieval_pb2.SearchResponse:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.search(port, query_vector=axis(0), document_ids=[document_id])
            if found.hits:
                return found
            time.sleep(0.3)
        raise AssertionError(f"{document_id} did not become searchable within {timeout:.0f}s")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    tmp = tmp_path_factory.mktemp("retrieval-service")
    platform = Platform(tmp)
    receiver = start_receiver(platform.spans_file, platform.otlp_port)
    start_group_at_end(platform.env["RAGLINE_EMBEDDING_GROUP"], CHUNKS)
    start_group_at_end(platform.env["RAGLINE_RETRIEVAL_GROUP"], EMBEDDINGS)
    launcher = ServiceLauncher(tmp / "run", platform.env)
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("RAGLINE_DATA_DIR", str(tmp))
        init_keys(TokenSettings.from_env())
        try:
            for name in ("embedding", "retrieval"):
                launcher.start(name)
            for name in ("embedding", "retrieval"):
                launcher.wait_ready(name)
            yield platform
        finally:
            launcher.stop("retrieval")
            launcher.stop("embedding")
            receiver.stop(0)


def audit_outcomes(tenant: str, since: list[TopicPartition], document_id: str, count: int) -> list[tuple[str, list[str]]]:
    consumer = Consumer({**kafka_client_settings(), "group.id": uuid.uuid4().hex, "enable.auto.commit": False})
    consumer.assign(since)
    outcomes: list[str] = []
    deadline = time.monotonic() + 60
    while len(outcomes) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        event = audit_pb2.AuditEvent.FromString(message.value())
        if event.header.tenant == tenant and event.action == "index.updated" and list(event.document_ids) == [document_id]:
            outcomes.append((event.outcome, sorted(event.chunk_ids)))
    consumer.close()
    return outcomes


def test_the_same_embedding_event_delivered_twice_indexes_once(platform):
    since = end_offsets(AUDIT)
    event = embedding_event(platform.tenant, "twice", ["first part", "second part"], first_axis=0)
    producer = EventProducer("test-upstream")
    for _ in range(2):
        producer.publish_and_wait(EMBEDDINGS, f"{platform.tenant}/twice", event)
    found = platform.wait_searchable("twice")
    chunk_ids = [f"{platform.tenant}/twice/v1/0", f"{platform.tenant}/twice/v1/1"]
    # The second delivery changes nothing, and still records which chunks are searchable.
    assert audit_outcomes(platform.tenant, since, "twice", 2) == [("indexed", chunk_ids), ("unchanged", chunk_ids)]
    found = platform.search(query_vector=axis(0), document_ids=["twice"])
    assert sorted(hit.chunk_id for hit in found.hits) == [f"{platform.tenant}/twice/v1/0", f"{platform.tenant}/twice/v1/1"]
    # The generation only has to move when the index changed: an increment whose
    # reply timed out is counted again later, which merely invalidates cached
    # answers once more (services/retrieval/index_generations.py).
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    assert int(client.get(f"ragline:index-generation:{platform.tenant}")) >= 1


def test_freshness_is_exported_as_a_histogram(platform):
    published = int(time.time() * 1000) - 3500
    event = embedding_event(platform.tenant, "late", ["published a while ago"], first_axis=3, published_ms=published)
    EventProducer("test-upstream").publish_and_wait(EMBEDDINGS, f"{platform.tenant}/late", event)
    platform.wait_searchable("late")

    def late_counts() -> int:
        points = [p for p in read_metric_points(metrics_file_beside(platform.spans_file), "ragline.index.freshness")]
        if not points:
            return 0
        latest = points[-1]
        assert (latest["service"], latest["unit"], latest["type"]) == ("retrieval", "s", "histogram")
        # Buckets above 3 s: only the event published 3.5 s before it was sent lands there.
        return sum(count for bound, count in zip([0.0, *latest["bounds"]], latest["bucket_counts"]) if bound >= 3.0)

    deadline = time.monotonic() + 20
    while late_counts() < 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert late_counts() == 1


def run_reindex(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ragline")
    reindex.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["reindex", *argv])
    return args.func(args)


def test_reindex_rebuilds_with_the_embedding_services_model_while_searches_go_on(platform, capsys):
    producer = EventProducer("test-upstream")
    for number, (document_id, text) in enumerate(DOCUMENTS.items()):
        producer.publish_and_wait(EMBEDDINGS, f"{platform.tenant}/{document_id}", embedding_event(platform.tenant, document_id, [text], 10 + number))
    for document_id in DOCUMENTS:
        platform.wait_searchable(document_id)
    # The old vectors: the battery text sits exactly on axis 10.
    before = platform.search(query_vector=axis(10), document_ids=["battery"]).hits[0]
    assert before.score == pytest.approx(1.0)

    failures: list[BaseException] = []
    searching = threading.Event()
    done = threading.Event()

    def search_all_along() -> None:
        while not done.is_set():
            try:
                assert platform.search(query_vector=axis(10), document_ids=list(DOCUMENTS)).hits
                searching.set()
            except BaseException as error:  # noqa: BLE001 - reported by the test
                failures.append(error)
                return

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    generation_before = int(client.get(f"ragline:index-generation:{platform.tenant}"))
    searcher = threading.Thread(target=search_all_along, daemon=True)
    searcher.start()
    try:
        assert searching.wait(20)
        status = run_reindex("--embedding-addr", f"127.0.0.1:{platform.embedding_port}", "--index", platform.index, "--timeout", "120")
    finally:
        done.set()
        searcher.join(30)
    output = capsys.readouterr().out
    assert status == 0, output
    assert failures == []
    assert "done" in output and "dropped" in output

    # Now the vectors are the model's own: the question finds the battery text by meaning.
    found = platform.search(query="How long does the battery of the picker last?", document_ids=list(DOCUMENTS))
    assert found.hits[0].document_id == "battery" and found.embedding_model == MODEL
    assert platform.search(query_vector=axis(10), document_ids=["battery"]).hits[0].score < 0.5
    assert run_reindex("--status", "--index", platform.index) == 0
    assert re.match(r"done (\d+)/\1 documents", capsys.readouterr().out)

    # The index moved to a new collection: answers cached before the switch are unreachable.
    assert int(client.get(f"ragline:index-generation:{platform.tenant}")) == generation_before + 1


def exporter_messages(log: Path) -> list[tuple[str, str]]:
    """(kind, signal) of each line the OTLP exporters logged."""
    messages = []
    for line in log.read_text(errors="replace").splitlines():
        if '"logger": "opentelemetry.exporter.otlp.proto.grpc.exporter"' in line:
            kind = next((k for k in ("Transient error", "Failed to export", "Shutdown in progress") if k in line), line)
            signal = next((s for s in ("traces", "metrics") if f" {s} " in line), "")
            messages.append((kind, signal))
    return messages


def test_without_a_collector_export_failures_are_logged_once_and_the_service_still_stops_promptly(platform, tmp_path):
    env = {
        **platform.env,
        "RAGLINE_MILVUS_URI": str(tmp_path / "alone.db"),
        "RAGLINE_MILVUS_COLLECTION": f"alone_{uuid.uuid4().hex[:8]}",
        "RAGLINE_RETRIEVAL_PORT": str(free_port()),
        "RAGLINE_RETRIEVAL_GROUP": f"test-alone-{uuid.uuid4().hex[:8]}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    start_group_at_end(env["RAGLINE_RETRIEVAL_GROUP"], EMBEDDINGS)
    alone = ServiceLauncher(tmp_path, env)
    alone.start("retrieval")
    log = alone.log_file("retrieval")
    try:
        alone.wait_ready("retrieval")
        event = embedding_event(platform.tenant, "measured", ["a chunk"], 20, published_ms=int(time.time() * 1000))
        EventProducer("test-upstream").publish_and_wait(EMBEDDINGS, f"{platform.tenant}/measured", event)
        platform.wait_searchable("measured", port=alone.port("retrieval"))
        # Spans and metrics all along; each export fails, retries for up to 10 s, and fails again.
        until = time.monotonic() + 20
        while time.monotonic() < until:
            platform.search(alone.port("retrieval"), query_vector=axis(20))
            time.sleep(0.2)
    finally:
        started = time.monotonic()
        alone.stop("retrieval")
        stopped_in = time.monotonic() - started
    messages = exporter_messages(log)
    assert messages, "no export failed: was a collector listening after all?"
    # Each message once per signal, not once per attempt.
    assert len(messages) == len(set(messages)), messages
    assert '"message": "stopped"' in log.read_text()
    assert stopped_in < 20
