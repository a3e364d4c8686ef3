"""The chunk index and the indexer against a real milvus-lite file (and the
real Redis of REDIS_URL for index generations).

Exactly-once effect, case by case: the same event twice indexes once; an older
version after a newer one never wins; a new version with fewer chunks leaves
none of the old ones; a delete removes every chunk; a delete of an unknown
document is harmless; a delete leaves a tombstone that holds off late older
upserts, and that no search, lookup or count ever sees.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid

import numpy as np
import pytest
import redis
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from confluent_kafka import Consumer, TopicPartition
from pymilvus import MilvusClient

from ragline.auditing import AuditTrail
from ragline.auth import Principal
from ragline.cli.launcher import end_offsets, free_port
from ragline.config import kafka_client_settings
from ragline.kafka import AUDIT, DEADLETTER, EventConsumer, EventProducer, RejectedEvent
from ragline.v1 import audit_pb2, chunks_pb2, common_pb2, deadletter_pb2, embeddings_pb2
from services.retrieval.access import AccessFilter
from services.retrieval.consuming import batch_handler
from services.retrieval.embedding_client import EmbeddingClient, EmbeddingClients
from services.retrieval import index as index_module
from services.retrieval.index import ChunkIndex, IndexSettings
from services.retrieval.index_generations import IndexGenerations, index_generation_key
from services.retrieval.indexer import ChunkIndexer
from services.retrieval.redis_connection import connect_redis
from services.retrieval.rows import DIMENSION, chunk_rows, search_hit

pytestmark = pytest.mark.integration

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
INTERNAL, CONFIDENTIAL = common_pb2.SENSITIVITY_INTERNAL, common_pb2.SENSITIVITY_CONFIDENTIAL
RESTRICTED = common_pb2.SENSITIVITY_RESTRICTED


def axis(i: int) -> list[float]:
    """A unit vector along axis i: the query axis(i) is closest to the chunk axis(i)."""
    vector = [0.0] * DIMENSION
    vector[i] = 1.0
    return vector


def upsert(
    document_id, version, texts, tenant="acme", users=("alice",), groups=(), sensitivity=INTERNAL, first_axis=0, published_at=None
):
    event = embeddings_pb2.EmbeddingEvent(
        header=common_pb2.EventHeader(event_id=f"{document_id}-{version}", tenant=tenant),
        document_id=document_id,
        document_version=version,
        embedding_model=MODEL,
        embedding_model_version="0.1.0+test",
    )
    for ordinal, text in enumerate(texts):
        chunk = chunks_pb2.Chunk(
            chunk_id=f"{tenant}/{document_id}/v{version}/{ordinal}",
            document_id=document_id,
            ordinal=ordinal,
            text=text,
            heading_path=["Guide", f"Part {ordinal}"],
            provenance=common_pb2.Provenance(
                origin_system="wiki",
                source_uri=f"https://wiki.example/{document_id}",
                author="dana",
                sensitivity=sensitivity,
                access=common_pb2.AccessList(users=list(users), groups=list(groups)),
                document_version=version,
                content_hash="ab" * 32,
                title=f"Title of {document_id}",
            ),
        )
        chunk.provenance.updated_at.FromSeconds(1_700_000_000 + version)
        if published_at is not None:
            chunk.published_at.FromMilliseconds(published_at)
        event.upsert.chunks.add(chunk=chunk, vector=axis(first_axis + ordinal))
    event.upsert.SetInParent()
    return event


def delete(document_id, version, tenant="acme"):
    event = embeddings_pb2.EmbeddingEvent(
        header=common_pb2.EventHeader(tenant=tenant), document_id=document_id, embedding_model=MODEL
    )
    event.delete.document_version = version
    return event


def settings(path, model=MODEL) -> IndexSettings:
    uri = str(path / "ragline.db")
    return IndexSettings(uri=uri, token="", alias="chunks", index_type="FLAT", timeout_s=10, model=model)


class NoCredentials:
    def metadata(self, callee: str | None = None) -> list[tuple[str, str]]:
        return []


def unused_embedders() -> EmbeddingClients:
    """Every event in these tests carries the index's model: nothing is embedded again."""
    return EmbeddingClients(EmbeddingClient("127.0.0.1:9", NoCredentials(), 1.0))


class Recorded(list):
    def record(self, amount: float) -> None:
        self.append(amount)


@pytest.fixture
def index(tmp_path):
    chunk_index = ChunkIndex(settings(tmp_path))
    yield chunk_index
    chunk_index.close()


@pytest.fixture
def indexer(index):
    return ChunkIndexer(index, unused_embedders())


def stored(index, document_id, tenant="acme"):
    return sorted(index.live.document_chunks(tenant, document_id))


def tombstones(index) -> dict[str, int]:
    """Document id -> the version its tombstone says it was deleted up to."""
    return {row["document_id"]: row["document_version"] for page in index.live.tombstones() for row in page}


def test_upsert_indexes_every_chunk_with_its_version(index, indexer):
    change = indexer.apply(upsert("doc", 1, ["a", "b", "c"]))
    assert change.outcome == "indexed" and len(change.indexed) == 3 and change.removed == ()
    assert stored(index, "doc") == [(f"acme/doc/v1/{i}", 1) for i in range(3)]


def test_replaying_an_event_changes_nothing(index, indexer):
    event = upsert("doc", 1, ["a", "b"])
    indexer.apply(event)
    access = AccessFilter.of(Principal("alice", "acme", (), INTERNAL)).expression()
    before = sorted((row["chunk_id"], row["indexed_at"]) for row, _ in index.live.search(axis(0), access, 10))
    assert indexer.apply(event).outcome == "unchanged"
    after = sorted((row["chunk_id"], row["indexed_at"]) for row, _ in index.live.search(axis(0), access, 10))
    assert after == before and len(after) == 2


def test_a_late_older_version_never_wins(index, indexer):
    indexer.apply(upsert("doc", 2, ["new"]))
    assert indexer.apply(upsert("doc", 1, ["old", "older"])).outcome == "stale"
    assert stored(index, "doc") == [("acme/doc/v2/0", 2)]


def test_a_new_version_with_fewer_chunks_leaves_none_of_the_old(index, indexer):
    indexer.apply(upsert("doc", 1, ["a", "b", "c"]))
    change = indexer.apply(upsert("doc", 2, ["only"]))
    assert change.outcome == "indexed"
    assert sorted(change.removed) == [f"acme/doc/v1/{i}" for i in range(3)]
    assert stored(index, "doc") == [("acme/doc/v2/0", 2)]
    # Nothing of version 1 is searchable any more, whatever the query.
    access = AccessFilter.of(Principal("alice", "acme", (), INTERNAL)).expression()
    for i in range(3):
        assert [row["document_version"] for row, _ in index.live.search(axis(i), access, 10)] == [2]


def test_a_half_applied_version_is_completed_on_redelivery(index, indexer):
    indexer.apply(upsert("doc", 1, ["a", "b"]))
    event = upsert("doc", 2, ["x"])
    index.live.upsert(chunk_rows(event, 0))  # as if the process died after the upsert, before removing version 1
    assert indexer.apply(event).outcome == "indexed"
    assert stored(index, "doc") == [("acme/doc/v2/0", 2)]


def test_delete_removes_versions_at_or_below_and_zero_removes_all(index, indexer):
    indexer.apply(upsert("doc", 3, ["a", "b"]))
    assert indexer.apply(delete("doc", 2)).outcome == "absent"
    assert len(stored(index, "doc")) == 2
    change = indexer.apply(delete("doc", 3))
    assert change.outcome == "deleted" and sorted(change.removed) == ["acme/doc/v3/0", "acme/doc/v3/1"]
    assert stored(index, "doc") == []
    indexer.apply(upsert("doc", 4, ["c"]))
    assert indexer.apply(delete("doc", 0)).removed == ("acme/doc/v4/0",)
    assert stored(index, "doc") == []


def test_deleting_an_unknown_document_is_harmless(index, indexer):
    indexer.apply(upsert("doc", 1, ["a"]))
    assert indexer.apply(delete("never-seen", 0)).outcome == "absent"
    assert stored(index, "doc") == [("acme/doc/v1/0", 1)]


def test_a_late_older_upsert_after_a_delete_stays_deleted(index, indexer):
    indexer.apply(upsert("doc", 2, ["a", "b"]))
    assert indexer.apply(delete("doc", 2)).outcome == "deleted"
    # Out of order from a second producer, and a replay of the deleted version itself.
    for late in (upsert("doc", 1, ["old"]), upsert("doc", 2, ["a", "b"])):
        assert indexer.apply(late).outcome == "stale"
    assert stored(index, "doc") == []
    assert tombstones(index) == {"doc": 2}


def test_a_delete_that_arrives_before_its_upsert_still_holds_it_off(index, indexer):
    change = indexer.apply(delete("doc", 3))
    assert (change.outcome, change.tombstoned) == ("absent", True)
    assert indexer.apply(upsert("doc", 3, ["a"])).outcome == "stale"
    assert stored(index, "doc") == []


def test_a_newer_upsert_after_a_delete_indexes_and_lifts_the_tombstone(index, indexer):
    indexer.apply(upsert("doc", 1, ["a"]))
    indexer.apply(delete("doc", 1))
    change = indexer.apply(upsert("doc", 2, ["b", "c"]))
    assert (change.outcome, change.removed) == ("indexed", ())
    assert stored(index, "doc") == [("acme/doc/v2/0", 2), ("acme/doc/v2/1", 2)]
    assert tombstones(index) == {}
    assert indexer.apply(upsert("doc", 1, ["a"])).outcome == "stale"  # older than what is indexed now


def test_deleting_all_versions_holds_off_every_version_indexed_so_far(index, indexer):
    indexer.apply(upsert("doc", 3, ["a"]))
    assert indexer.apply(delete("doc", 0)).outcome == "deleted"
    assert tombstones(index) == {"doc": 3}
    assert indexer.apply(upsert("doc", 3, ["a"])).outcome == "stale"
    assert indexer.apply(upsert("doc", 4, ["b"])).outcome == "indexed"


def test_a_delete_below_an_indexed_version_leaves_no_tombstone_and_an_older_one_is_kept(index, indexer):
    indexer.apply(upsert("doc", 3, ["a"]))
    change = indexer.apply(delete("doc", 2))  # the version above it already holds off older upserts
    assert (change.outcome, change.tombstoned) == ("absent", False) and tombstones(index) == {}
    indexer.apply(delete("other", 5))
    assert indexer.apply(delete("other", 4)).tombstoned is False
    assert tombstones(index) == {"other": 5}


def test_replayed_events_end_where_one_delivery_ends(index, indexer):
    stream = [
        upsert("doc", 1, ["a", "b"]),
        upsert("doc", 2, ["c"]),
        delete("doc", 2),
        upsert("doc", 1, ["a", "b"]),
        delete("gone", 0),
        upsert("kept", 1, ["k"]),
    ]
    first = [indexer.apply(event).outcome for event in stream]
    assert first == ["indexed", "indexed", "deleted", "stale", "absent", "indexed"]
    after_first = (stored(index, "doc"), stored(index, "kept"), tombstones(index))
    assert after_first == ([], [("acme/kept/v1/0", 1)], {"doc": 2, "gone": 0})
    replayed = [indexer.apply(event).outcome for event in stream]
    assert replayed == ["stale", "stale", "absent", "stale", "absent", "unchanged"]
    assert (stored(index, "doc"), stored(index, "kept"), tombstones(index)) == after_first


def test_a_half_applied_delete_is_completed_on_redelivery(index, indexer):
    indexer.apply(upsert("doc", 3, ["a", "b"]))
    index.live.mark_deleted("acme", "doc", 3)  # as if the process died after the tombstone, before the chunks went
    change = indexer.apply(delete("doc", 0))
    assert change.outcome == "deleted" and sorted(change.removed) == ["acme/doc/v3/0", "acme/doc/v3/1"]
    assert tombstones(index) == {"doc": 3}
    assert indexer.apply(upsert("doc", 3, ["a", "b"])).outcome == "stale"


def test_tombstones_are_never_found_by_a_search_a_lookup_or_a_count(index, indexer, tmp_path):
    indexer.apply(upsert("kept", 1, ["kept"], groups=["eng"], first_axis=5))
    indexer.apply(upsert("doc", 1, ["a"], groups=["eng"]))
    indexer.apply(delete("doc", 1))
    for n in range(3):
        indexer.apply(delete(f"gone-{n}", 1))
    indexer.apply(delete("doc", 1, tenant="globex"))
    assert len(list(row for page in index.live.tombstones() for row in page)) == 5
    # The tombstones' own vector, for the strongest reader of the tenant, narrowed to the deleted documents too.
    strongest = AccessFilter.of(Principal("alice", "acme", ("eng",), RESTRICTED))
    for expression in (
        strongest.expression(),
        strongest.expression(["doc", "gone-0"]),
        strongest.expression(by_tokens=False),
    ):
        assert {row["document_id"] for row, _ in index.live.search(axis(0), expression, 50)} <= {"kept"}
    assert index.live.documents() == {("acme", "kept")}
    assert stored(index, "doc") == [] and stored(index, "doc", "globex") == []
    assert index.live.document_rows("acme", "gone-0") == []
    # A tenant's rows, counted the way the crash test reads them from the file.
    client = MilvusClient(uri=settings(tmp_path).uri)
    counted = client.query(index.live.name, filter='tenant == "acme"', output_fields=["count(*)"])
    assert counted[0]["count(*)"] == 1


def test_a_document_with_more_rows_than_one_query_returns_is_read_in_pages(index, indexer, monkeypatch):
    monkeypatch.setattr(index_module, "QUERY_WINDOW", 3)
    indexer.apply(upsert("doc", 1, ["a", "b", "c", "d"]))
    change = indexer.apply(upsert("doc", 2, ["e", "f", "g"]))
    assert change.outcome == "indexed" and len(change.removed) == 4
    assert stored(index, "doc") == [(f"acme/doc/v2/{i}", 2) for i in range(3)]
    assert indexer.apply(upsert("doc", 1, ["a", "b", "c", "d"])).outcome == "stale"
    change = indexer.apply(delete("doc", 0))
    assert change.outcome == "deleted" and len(change.removed) == 3
    assert tombstones(index) == {"doc": 2}
    assert indexer.apply(upsert("doc", 2, ["e", "f", "g"])).outcome == "stale"
    assert indexer.apply(upsert("doc", 3, ["h", "i", "j"])).outcome == "indexed"
    assert tombstones(index) == {}


def test_documents_are_kept_apart_by_tenant(index, indexer):
    indexer.apply(upsert("doc", 1, ["a"], tenant="acme"))
    indexer.apply(upsert("doc", 1, ["b"], tenant="globex"))
    indexer.apply(delete("doc", 0, tenant="globex"))
    assert stored(index, "doc", "acme") == [("acme/doc/v1/0", 1)]
    assert stored(index, "doc", "globex") == []


def test_ids_with_quotes_work_end_to_end(index, indexer):
    tenant, document_id = 'ac"me\\', 'doc "1" \\ or tenant != "x"'
    indexer.apply(upsert(document_id, 1, ["a"], tenant=tenant))
    indexer.apply(upsert("doc", 1, ["b"], tenant="acme"))
    assert [v for _, v in stored(index, document_id, tenant)] == [1]
    access = AccessFilter.of(Principal("alice", tenant, (), INTERNAL)).expression([document_id])
    assert [row["document_id"] for row, _ in index.live.search(axis(0), access, 10)] == [document_id]
    assert indexer.apply(delete(document_id, 0, tenant=tenant)).outcome == "deleted"
    assert stored(index, "doc") == [("acme/doc/v1/0", 1)]


def test_a_chunk_id_of_another_document_is_rejected_not_overwritten(index, indexer):
    indexer.apply(upsert("doc", 1, ["a"], tenant="globex"))
    hijack = upsert("doc", 1, ["mine now"], tenant="acme")
    hijack.upsert.chunks[0].chunk.chunk_id = "globex/doc/v1/0"
    with pytest.raises(RejectedEvent) as rejection:
        indexer.apply(hijack)
    assert rejection.value.stage == "validate"
    assert stored(index, "doc", "globex") == [("globex/doc/v1/0", 1)]


def test_invalid_events_are_rejected_before_touching_the_index(index, indexer):
    with pytest.raises(RejectedEvent) as rejection:
        indexer.apply(upsert("doc", 1, ["a"], sensitivity=0))
    assert rejection.value.stage == "validate" and rejection.value.tenant == "acme"
    assert stored(index, "doc") == []


def test_two_principals_see_what_their_tokens_allow(index, indexer):
    indexer.apply(upsert("handbook", 1, ["everyone in eng"], groups=["eng"], users=(), first_axis=0))
    indexer.apply(upsert("salaries", 1, ["confidential"], users=["carol"], sensitivity=CONFIDENTIAL, first_axis=1))
    indexer.apply(
        upsert("globex-plan", 1, ["other"], tenant="globex", users=["alice", "carol"], groups=["eng"], first_axis=2)
    )
    alice = Principal("alice", "acme", ("eng",), INTERNAL)
    carol = Principal("carol", "acme", ("finance",), CONFIDENTIAL)
    carol_internal = Principal("carol", "acme", ("finance",), INTERNAL)

    def documents(principal, document_ids=()):
        expression = AccessFilter.of(principal).expression(document_ids)
        return {row["document_id"] for i in range(3) for row, _ in index.live.search(axis(i), expression, 10)}

    assert documents(alice) == {"handbook"}  # by group; not salaries (user list, clearance), not globex
    assert documents(carol) == {"salaries"}  # by user at her clearance; not the eng handbook
    assert documents(carol_internal) == set()  # same user, clearance below the document's
    assert documents(alice, ["salaries", "globex-plan"]) == set()  # narrowing never widens
    assert documents(Principal("alice", "globex", ("eng",), INTERNAL)) == {"globex-plan"}


def test_search_hits_carry_provenance_closest_first(index, indexer):
    indexer.apply(upsert("doc", 7, ["first", "second"], groups=["eng"]))
    access = AccessFilter.of(Principal("alice", "acme", ("eng",), INTERNAL)).expression()
    query = (np.array(axis(1)) * 0.9 + np.array(axis(0)) * 0.1).tolist()
    results = index.live.search(query, access, 5)
    hits = [search_hit(row, score) for row, score in results]
    assert [hit.text for hit in hits] == ["second", "first"]
    assert hits[0].score > hits[1].score and hits[0].score == pytest.approx(0.9 / np.hypot(0.9, 0.1), abs=1e-5)
    top = hits[0]
    assert (top.chunk_id, top.document_id, top.ordinal) == ("acme/doc/v7/1", "doc", 1)
    assert list(top.heading_path) == ["Guide", "Part 1"]
    provenance = top.provenance
    assert (provenance.title, provenance.source_uri, provenance.origin_system, provenance.author) == (
        "Title of doc", "https://wiki.example/doc", "wiki", "dana"
    )
    assert provenance.sensitivity == INTERNAL and provenance.document_version == 7
    assert list(provenance.access.users) == ["alice"] and list(provenance.access.groups) == ["eng"]
    assert provenance.updated_at.seconds == 1_700_000_007 and not provenance.HasField("created_at")


def test_reopening_keeps_the_index_and_its_model(tmp_path):
    first = ChunkIndex(settings(tmp_path))
    ChunkIndexer(first, unused_embedders()).apply(upsert("doc", 1, ["a"]))
    first.close()
    # The configured model only names the model of a new index; an existing one keeps its own.
    again = ChunkIndex(settings(tmp_path, model="text-embedding-3-small"))
    assert again.live.document_chunks("acme", "doc") == [("acme/doc/v1/0", 1)]
    assert (again.live.model, again.live.name, again.alias) == (MODEL, "chunks_v1", "chunks")
    again.close()


def test_searches_run_while_documents_are_rewritten(index, indexer):
    access = AccessFilter.of(Principal("alice", "acme", (), INTERNAL)).expression()
    errors: list[BaseException] = []
    done = threading.Event()

    def search() -> None:
        try:
            while not done.is_set():
                for row, _ in index.live.search(axis(0), access, 10):
                    assert row["tenant"] == "acme" and row["document_id"] == "doc"
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    searchers = [threading.Thread(target=search) for _ in range(4)]
    for thread in searchers:
        thread.start()
    try:
        for version in range(1, 31):
            indexer.apply(upsert("doc", version, [f"text {version}.{i}" for i in range(1 + version % 4)]))
    finally:
        done.set()
        for thread in searchers:
            thread.join()
    assert errors == []
    assert [v for _, v in stored(index, "doc")] == [30] * (1 + 30 % 4)


def test_indexing_is_traced_under_the_event_span(index, indexer, spans):
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("process ragline.embeddings.v1") as parent:
        indexer.apply(upsert("traced", 2, ["a"]))
    trace_id = parent.get_span_context().trace_id
    finished = [span for span in spans.get_finished_spans() if span.context.trace_id == trace_id]
    process = next(span for span in finished if span.name == "process ragline.embeddings.v1")
    assert process.attributes["ragline.document.id"] == "traced"
    assert process.attributes["ragline.index.outcome"] == "indexed"
    milvus = [span for span in finished if span.attributes.get("db.system.name") == "milvus"]
    assert {span.name for span in milvus} >= {"query chunks_v1", "upsert chunks_v1"}
    assert all(span.parent.span_id == process.context.span_id and span.kind == SpanKind.CLIENT for span in milvus)


def test_chunks_record_when_their_document_was_published_and_when_they_became_searchable(index):
    freshness = Recorded()
    indexer = ChunkIndexer(index, unused_embedders(), freshness=freshness)
    published = int(time.time() * 1000) - 1500
    indexer.apply(upsert("fresh", 1, ["a", "b"], published_at=published))
    indexer.apply(upsert("unknown", 1, ["c"], first_axis=2))
    access = AccessFilter.of(Principal("alice", "acme", (), INTERNAL)).expression()
    rows = {row["chunk_id"]: row for i in range(3) for row, _ in index.live.search(axis(i), access, 10)}
    fresh = [rows["acme/fresh/v1/0"], rows["acme/fresh/v1/1"]]
    assert {row["published_at"] for row in fresh} == {published}
    assert all(published + 1500 <= row["indexed_at"] <= time.time() * 1000 for row in fresh)
    assert rows["acme/unknown/v1/0"]["published_at"] == 0  # unset: unknown, and not measured
    assert len(freshness) == 1 and 1.5 <= freshness[0] < 10
    indexer.apply(upsert("fresh", 1, ["a", "b"], published_at=published))
    assert len(freshness) == 1  # a replay indexes nothing, so it measures nothing


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def generation(tenant: str) -> int:
    return int(connect_redis().get(index_generation_key(tenant)) or 0)


def test_each_change_to_what_a_tenant_can_find_counts_one_generation(index, tenant):
    indexer = ChunkIndexer(index, unused_embedders(), IndexGenerations(connect_redis()))
    steps = [
        (upsert("doc", 2, ["a", "b"], tenant=tenant), "indexed", 1),
        (upsert("doc", 2, ["a", "b"], tenant=tenant), "unchanged", 1),
        (upsert("doc", 1, ["old"], tenant=tenant), "stale", 1),
        (upsert("doc", 3, ["c"], tenant=tenant), "indexed", 2),
        (delete("doc", 0, tenant=tenant), "deleted", 3),
        (delete("never-seen", 0, tenant=tenant), "absent", 3),
    ]
    for event, outcome, expected in steps:
        assert (indexer.apply(event).outcome, generation(tenant)) == (outcome, expected)


def test_indexing_goes_on_while_redis_is_down_and_the_generation_is_counted_when_it_is_back(index, tenant, tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (infra/redis.sh installs it)")
    port = free_port()
    client = redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=0.5)
    indexer = ChunkIndexer(index, unused_embedders(), IndexGenerations(client, retry_after_s=0.5))
    started = time.monotonic()
    for version in range(1, 6):
        assert indexer.apply(upsert("doc", version, [f"v{version}"], tenant=tenant)).outcome == "indexed"
    # Only the first event waited for the connection to be refused; the others did not try.
    assert time.monotonic() - started < 5
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                break
            except redis.RedisError:
                time.sleep(0.1)
        time.sleep(0.6)
        indexer.apply(delete("doc", 0, tenant=tenant))
        # The five updates made while Redis was down and the delete count as one: that is
        # enough to make every answer given before them unreachable.
        assert int(client.get(index_generation_key(tenant))) == 1
    finally:
        process.terminate()
        process.wait(10)


# A batch (ChunkIndexer.apply_all, as the consumer applies up to
# RAGLINE_RETRIEVAL_BATCH_SIZE events) must end exactly where the same events
# applied one by one end: the same outcome or rejection per event, the same rows.

HISTORY = [
    upsert("doc", 1, ["a", "b", "c"]),
    upsert("same", 1, ["s"]),
    upsert("gone", 1, ["g", "h"]),
    upsert("late", 2, ["l"]),
    upsert("dead", 1, ["d"]),
    delete("dead", 1),
    delete("revived", 2),
    upsert("kept", 4, ["k1", "k2"]),
    upsert("owned", 1, ["o"], tenant="globex"),
]


def hijack():
    event = upsert("hijack", 1, ["mine now"])
    event.upsert.chunks[0].chunk.chunk_id = "globex/owned/v1/0"
    return event


BATCH = [
    upsert("fresh", 1, ["x", "y"]),  # a new document
    upsert("doc", 2, ["a2", "b2"]),  # a new version with fewer chunks
    upsert("same", 1, ["s"]),  # a replay
    delete("gone", 0),  # a delete of every version
    upsert("late", 1, ["old"]),  # a late older version
    upsert("dead", 1, ["d"]),  # a tombstoned document
    upsert("revived", 3, ["r"]),  # above its tombstone
    hijack(),  # a chunk id of another tenant's document
    upsert("invalid", 1, ["i"], sensitivity=0),
    delete("unknown", 0),
    delete("kept", 3),  # below the indexed version
    upsert("doc", 1, ["other tenant"], tenant="globex"),
]


def rows(path) -> list[tuple]:
    """Every row of the index, tombstones too, without the times of writing."""
    client = MilvusClient(uri=settings(path).uri)
    name = client.describe_alias("chunks")["collection_name"]
    fields = ["tenant", "document_id", "document_version", "text"]
    found = client.query(name, filter='chunk_id != ""', output_fields=fields, limit=1000)
    return sorted((row["chunk_id"], row["tenant"], row["document_id"], row["document_version"], row["text"]) for row in found)


def outcome(result) -> tuple:
    if isinstance(result, RejectedEvent):
        return ("rejected", result.stage, result.reason, result.tenant)
    return (result.outcome, sorted(result.indexed), sorted(result.removed), result.tombstoned)


def one_by_one(indexer, events) -> list[tuple]:
    results = []
    for event in events:
        try:
            results.append(outcome(indexer.apply(event)))
        except RejectedEvent as rejection:
            results.append(outcome(rejection))
    return results


@pytest.fixture
def twins(tmp_path):
    """Two indexes with the same history: one for a batch, one for the same events one by one."""
    made = []
    for name in ("batch", "single"):
        (tmp_path / name).mkdir()
        chunk_index = ChunkIndex(settings(tmp_path / name))
        chunk_indexer = ChunkIndexer(chunk_index, unused_embedders())
        one_by_one(chunk_indexer, HISTORY)
        made.append((chunk_index, chunk_indexer, tmp_path / name))
    yield made
    for chunk_index, _, _ in made:
        chunk_index.close()


def test_a_batch_ends_where_its_events_one_by_one_end(twins):
    (_, batch_indexer, batch_path), (_, single_indexer, single_path) = twins
    expected = one_by_one(single_indexer, BATCH)
    results = batch_indexer.apply_all(BATCH)
    assert results is not None and [outcome(result) for result in results] == expected
    assert [row[0] for row in expected] == [
        "indexed", "indexed", "unchanged", "deleted", "stale", "stale", "indexed", "rejected", "rejected", "absent",
        "absent", "indexed",
    ]  # fmt: skip
    assert expected[7][1:3] == ("validate", "chunk ids already indexed for another document: globex/owned/v1/0")
    assert rows(batch_path) == rows(single_path)
    assert ("acme/doc/v2/0", "acme", "doc", 2, "a2") in rows(batch_path)
    # Replayed, the batch changes nothing, as the events replayed one by one.
    replayed = batch_indexer.apply_all(BATCH)
    assert replayed is not None and [outcome(result) for result in replayed] == one_by_one(single_indexer, BATCH)
    assert rows(batch_path) == rows(single_path)


def test_a_batch_cut_short_between_its_upsert_and_its_delete_is_completed_when_retried(twins, monkeypatch):
    (batch_index, batch_indexer, batch_path), (_, single_indexer, single_path) = twins
    one_by_one(single_indexer, BATCH)

    def crash(chunk_ids):
        raise index_module.IndexUnavailable("Milvus delete failed: the process died here")

    monkeypatch.setattr(batch_index.live, "delete", crash)
    counted = ChunkIndexer(batch_index, unused_embedders(), IndexGenerations(connect_redis()))
    before = {tenant: generation(tenant) for tenant in ("acme", "globex")}
    with pytest.raises(index_module.IndexUnavailable):
        counted.apply_all(BATCH)
    assert ("acme/doc/v2/0", "acme", "doc", 2, "a2") in rows(batch_path) and rows(batch_path) != rows(single_path)
    # The retry finds `fresh` indexed already (`unchanged`): what changed was counted before it.
    assert {tenant: generation(tenant) for tenant in ("acme", "globex")} == {tenant: n + 1 for tenant, n in before.items()}
    monkeypatch.undo()
    assert batch_indexer.apply_all(BATCH) is not None
    assert rows(batch_path) == rows(single_path)


def test_an_unusual_batch_is_left_to_be_applied_one_by_one(twins, monkeypatch):
    (batch_index, batch_indexer, batch_path), (_, single_indexer, single_path) = twins
    before = rows(batch_path)
    twice = [upsert("doc", 2, ["a2"]), upsert("fresh", 1, ["x"]), upsert("doc", 3, ["a3"])]
    taken = [upsert("fresh", 1, ["x"]), hijack()]
    taken[1].upsert.chunks[0].chunk.chunk_id = "acme/fresh/v1/0"
    # globex/owned is in the batch: whether the hijack is foreign depends on which comes first.
    moved = [upsert("owned", 2, ["o2"], tenant="globex"), hijack()]
    for events in (twice, taken, moved):
        assert batch_indexer.apply_all(events) is None
    batch_indexer.listen(lambda tenant, document_id: None)
    assert batch_indexer.apply_all([upsert("fresh", 1, ["x"])]) is None
    batch_indexer.listen(None)
    monkeypatch.setattr(index_module, "QUERY_WINDOW", 3)
    assert batch_indexer.apply_all([upsert("doc", 2, ["a2"])]) is None  # doc holds 3 rows
    assert rows(batch_path) == before  # nothing written: one by one does it all
    monkeypatch.undo()
    for events in (twice, taken, moved):
        assert one_by_one(batch_indexer, events) == one_by_one(single_indexer, events)
    assert rows(batch_path) == rows(single_path)


def read_since(since: list[TopicPartition], message_type, wanted, count: int) -> list:
    consumer = Consumer({**kafka_client_settings(), "group.id": uuid.uuid4().hex, "enable.auto.commit": False})
    consumer.assign(since)
    found: list = []
    deadline = time.monotonic() + 30
    while len(found) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            decoded = message_type.FromString(message.value())
            if wanted(decoded):
                found.append(decoded)
    consumer.close()
    return found


def test_the_consumer_applies_a_batch_at_once_and_settles_each_event_in_its_own_span(index, topic, tenant, spans):
    ChunkIndexer(index, unused_embedders()).apply(upsert("owned", 1, ["o"], tenant="globex-" + tenant))
    taken = upsert("hijack", 1, ["mine now"], tenant=tenant)
    taken.upsert.chunks[0].chunk.chunk_id = f"globex-{tenant}/owned/v1/0"
    events = [
        upsert("fresh", 1, ["a", "b"], tenant=tenant),
        upsert("invalid", 1, ["i"], tenant=tenant, sensitivity=0),
        taken,
        delete("unknown", 0, tenant=tenant),
    ]
    audits, letters = end_offsets(AUDIT), end_offsets(DEADLETTER)
    producer = EventProducer("test-upstream")
    for event in events:
        producer.publish_and_wait(topic, f"{tenant}/{event.document_id}", event)
    group = f"test-retrieval-{uuid.uuid4().hex[:8]}"
    consumer = EventConsumer("retrieval", group, [topic], producer)
    generations = IndexGenerations(connect_redis())
    handler = batch_handler(ChunkIndexer(index, unused_embedders(), generations), AuditTrail(producer, "retrieval"), consumer)
    thread = threading.Thread(target=consumer.run, args=(handler, 16, 1.0))
    thread.start()
    try:
        records = read_since(audits, audit_pb2.AuditEvent, lambda record: record.header.tenant == tenant, 2)
        dead = read_since(letters, deadletter_pb2.DeadLetter, lambda letter: letter.tenant == tenant, 2)
    finally:
        consumer.stop()
        thread.join(30)
    assert sorted((record.action, record.outcome, tuple(record.document_ids)) for record in records) == [
        ("index.deleted", "absent", ("unknown",)),
        ("index.updated", "indexed", ("fresh",)),
    ]
    assert sorted((letter.stage, letter.reason.split(":")[0]) for letter in dead) == [
        ("validate", "chunk 0"),
        ("validate", "chunk ids already indexed for another document"),
    ]
    assert stored(index, "fresh", tenant) == [(f"{tenant}/fresh/v1/0", 1), (f"{tenant}/fresh/v1/1", 1)]
    assert generation(tenant) == 1
    finished = spans.get_finished_spans()
    batch = [span for span in finished if span.name == "index batch" and len(span.links) == 4]
    assert len(batch) == 1 and batch[0].attributes["messaging.batch.message_count"] == 4
    milvus = [span for span in finished if span.parent is not None and span.parent.span_id == batch[0].context.span_id]
    # One query and one upsert for the batch; nothing was there to remove, so no delete.
    assert sorted(span.attributes["db.operation.name"] for span in milvus) == ["query", "upsert"]
    linked = {link.context.span_id for link in batch[0].links}
    processed = {span.attributes.get("ragline.document.id"): span for span in finished if span.context.span_id in linked}
    assert processed["fresh"].attributes["ragline.index.outcome"] == "indexed"
    assert processed["unknown"].attributes["ragline.index.outcome"] == "absent"
    assert {span.attributes.get("ragline.deadletter.reason", "")[:5] for span in processed.values()} == {"", "chunk"}
