"""Re-embedding the index against a real milvus-lite file, with the real
all-MiniLM-L6-v2 served over gRPC on loopback as the new model: searches keep
answering during the rebuild, updates made meanwhile all reach the new index,
tombstones of deleted documents move with it, and after the switch searches
use it and the old collection is gone."""

from __future__ import annotations

import threading
import time
from concurrent import futures
from typing import Iterator

import grpc
import pytest
from pymilvus import DataType, MilvusClient

from ragline import minilm
from ragline.auth import Principal
from ragline.v1 import chunks_pb2, common_pb2, embedding_pb2_grpc, embeddings_pb2
from services.embedding.encoder import MiniLMEncoder
from services.embedding.server import EmbeddingServicer
from services.retrieval.access import AccessFilter
from services.retrieval.embedding_client import EmbeddingClient, EmbeddingClients
from services.retrieval.index import MODEL_PROPERTY, ChunkIndex, IndexSettings
from services.retrieval.indexer import ChunkIndexer
from services.retrieval.reindex_requests import CANCELLED, DONE, ReindexRequest, ReindexStatus
from services.retrieval.reindexing import IndexRebuild

pytestmark = pytest.mark.integration

OLD_MODEL = "test/axis-vectors"  # the index's model before: a unit vector per chunk
NEW_MODEL = minilm.MODEL_NAME
INTERNAL = common_pb2.SENSITIVITY_INTERNAL
TOPICS = [
    "The NW-7 picker runs about nine hours on one battery charge.",
    "Expense reports are due on the fifth working day of each month.",
    "Forklifts must stay below ten kilometres per hour in the warehouse.",
    "Visitor parking is in lot C, behind the loading dock.",
]


class NoCredentials:
    def metadata(self, callee: str | None = None) -> list[tuple[str, str]]:
        return []


@pytest.fixture(scope="module")
def new_model_address() -> Iterator[str]:
    """The embedding service's Embed call with the real model, on loopback."""
    encoder = MiniLMEncoder()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = EmbeddingServicer(encoder.encode, NEW_MODEL, minilm.model_version())
    embedding_pb2_grpc.add_EmbeddingServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(0)


def settings(path, alias="chunks") -> IndexSettings:
    return IndexSettings(uri=str(path / "ragline.db"), token="", alias=alias, index_type="FLAT", timeout_s=10, model=OLD_MODEL)


def axis(i: int) -> list[float]:
    vector = [0.0] * minilm.DIMENSION
    vector[i % minilm.DIMENSION] = 1.0
    return vector


def upsert(document_id: str, version: int, texts: list[str], model: str = OLD_MODEL, first_axis: int = 0):
    event = embeddings_pb2.EmbeddingEvent(
        header=common_pb2.EventHeader(event_id=f"{document_id}-{version}", tenant="acme"),
        document_id=document_id,
        document_version=version,
        embedding_model=model,
        embedding_model_version="1",
    )
    for ordinal, text in enumerate(texts):
        chunk = chunks_pb2.Chunk(
            chunk_id=f"acme/{document_id}/v{version}/{ordinal}",
            document_id=document_id,
            ordinal=ordinal,
            text=text,
            provenance=common_pb2.Provenance(
                sensitivity=INTERNAL, access=common_pb2.AccessList(users=["alice"]), document_version=version, title=document_id
            ),
        )
        chunk.published_at.FromMilliseconds(1_700_000_000_000 + version)
        event.upsert.chunks.add(chunk=chunk, vector=axis(first_axis + ordinal))
    event.upsert.SetInParent()
    return event


def delete(document_id: str, version: int = 0):
    event = embeddings_pb2.EmbeddingEvent(header=common_pb2.EventHeader(tenant="acme"), document_id=document_id)
    event.delete.document_version = version
    return event


ACCESS = AccessFilter.of(Principal("alice", "acme", (), INTERNAL)).expression()


def collections(path) -> list[str]:
    client = MilvusClient(uri=str(path / "ragline.db"))
    try:
        return sorted(client.list_collections())
    finally:
        client.close()


class Rebuilds:
    """Runs rebuilds the way the watcher does, keeping every status reported."""

    def __init__(self, index: ChunkIndex, indexer: ChunkIndexer, embedders: EmbeddingClients, address: str):
        self.index, self.indexer, self.embedders, self.address = index, indexer, embedders, address
        self.statuses: list[ReindexStatus] = []

    def rebuild(self, request_id: str, still_wanted=lambda: True) -> IndexRebuild:
        return IndexRebuild(
            self.index,
            self.indexer,
            self.embedders,
            None,
            ReindexRequest(request_id, self.address),
            EmbeddingClient(self.address, NoCredentials(), 60),
            self.statuses.append,
            still_wanted,
            retry_pause_s=0.2,
            drop_grace_s=0.5,
        )


@pytest.fixture
def rebuilds(tmp_path, new_model_address) -> Iterator[Rebuilds]:
    index = ChunkIndex(settings(tmp_path))
    embedders = EmbeddingClients(EmbeddingClient(new_model_address, NoCredentials(), 60))
    yield Rebuilds(index, ChunkIndexer(index, embedders), embedders, new_model_address)
    index.close()


def contents(index: ChunkIndex, document_ids) -> dict[str, set[tuple[str, int]]]:
    return {document_id: set(index.live.document_chunks("acme", document_id)) for document_id in document_ids}


def test_searches_go_on_during_the_rebuild_every_update_reaches_the_new_index_and_it_serves_after(rebuilds, tmp_path):
    index, indexer = rebuilds.index, rebuilds.indexer
    documents = {f"doc-{n:03d}": [f"{TOPICS[n % 4]} (doc {n}, part {p})" for p in range(2)] for n in range(120)}
    for n, (document_id, texts) in enumerate(documents.items()):
        indexer.apply(upsert(document_id, 1, texts, first_axis=n))
    old = index.live.name

    rebuild = rebuilds.rebuild("r1")
    outcome: list[str] = []
    builder = threading.Thread(target=lambda: outcome.append(rebuild.run()), daemon=True)
    failures: list[BaseException] = []
    answered = [0]

    def search() -> None:
        while builder.is_alive():
            try:
                hits = index.live.search(axis(0), ACCESS, 5)
                assert hits and all(row["tenant"] == "acme" for row, _ in hits)
                answered[0] += 1
            except BaseException as error:  # noqa: BLE001 - reported by the test
                failures.append(error)
                return

    expected = {document_id: {(f"acme/{document_id}/v1/{p}", 1) for p in range(2)} for document_id in documents}
    builder.start()
    searcher = threading.Thread(target=search, daemon=True)
    searcher.start()
    # Updates while the rebuild runs, and on after the switch: new versions,
    # deletes and new documents, all with the old model's vectors.
    step = 0
    try:
        while builder.is_alive() or step < 130:
            n = step % 120
            document_id = f"doc-{n:03d}"
            if step % 3 == 0:
                indexer.apply(upsert(document_id, 2 + step, ["shorter now"], first_axis=n))
                expected[document_id] = {(f"acme/{document_id}/v{2 + step}/0", 2 + step)}
            elif step % 3 == 1:
                indexer.apply(delete(document_id))
                expected[document_id] = set()
            else:
                indexer.apply(upsert(f"new-{step}", 1, [f"{TOPICS[step % 4]} (new {step})"], first_axis=step))
                expected[f"new-{step}"] = {(f"acme/new-{step}/v1/0", 1)}
            step += 1
            time.sleep(0.01)
    finally:
        rebuild.stop()
        builder.join(120)
        searcher.join(10)

    assert outcome == [DONE] and failures == [] and answered[0] > 0
    assert step >= 130
    # The new collection serves, with the new model; the old one is gone.
    assert (index.live.name, index.live.model, index.live.request) == ("chunks_v2", NEW_MODEL, "r1")
    assert collections(tmp_path) == ["chunks_v2"] and old == "chunks_v1"
    assert contents(index, expected) == expected
    rows = [row for document_id in expected for row in index.live.document_rows("acme", document_id)]
    assert {row["embedding_model"] for row in rows} == {NEW_MODEL}
    # Searches now use the model's vectors: a question finds its topic by meaning.
    vector = rebuilds.embedders.for_model(NEW_MODEL).embed(["When is my expense report due?"]).vectors[0]
    top, _ = index.live.search(vector, ACCESS, 1)[0]
    assert "Expense reports" in top["text"]
    states = [status.state for status in rebuilds.statuses]
    assert states[0] == "building" and states[-2:] == ["switched", "done"]
    assert rebuilds.statuses[-1].copied >= rebuilds.statuses[-1].documents > 100


def test_tombstones_move_to_the_new_index_with_those_made_and_lifted_during_the_rebuild(rebuilds):
    index, indexer = rebuilds.index, rebuilds.indexer
    indexer.apply(upsert("gone", 2, [TOPICS[0]]))
    indexer.apply(delete("gone"))
    indexer.apply(delete("early", 5))
    indexer.apply(upsert("kept", 1, [TOPICS[1]]))
    meanwhile: list[str] = []

    def apply_meanwhile() -> bool:
        # Asked before each copy step, after the tombstones were copied first.
        if not meanwhile:
            meanwhile.append(indexer.apply(delete("kept", 1)).outcome)
            meanwhile.append(indexer.apply(upsert("gone", 3, [TOPICS[2]])).outcome)
            meanwhile.append(indexer.apply(delete("late", 4)).outcome)
        return True

    assert rebuilds.rebuild("r1", apply_meanwhile).run() == DONE
    assert meanwhile == ["deleted", "indexed", "absent"] and index.live.name == "chunks_v2"
    marks = {row["document_id"]: row["document_version"] for page in index.live.tombstones() for row in page}
    assert marks == {"early": 5, "kept": 1, "late": 4}
    assert contents(index, ["gone", "kept"]) == {"gone": {("acme/gone/v3/0", 3)}, "kept": set()}
    for late in (upsert("early", 5, [TOPICS[3]]), upsert("kept", 1, [TOPICS[1]]), upsert("late", 2, [TOPICS[0]])):
        assert indexer.apply(late).outcome == "stale"
    vector = rebuilds.embedders.for_model(NEW_MODEL).embed([TOPICS[2]]).vectors[0]
    assert [row["document_id"] for row, _ in index.live.search(vector, ACCESS, 5)] == ["gone"]


def test_events_of_the_old_model_after_the_switch_are_embedded_again(rebuilds):
    index, indexer = rebuilds.index, rebuilds.indexer
    indexer.apply(upsert("doc", 1, [TOPICS[0]]))
    assert rebuilds.rebuild("r1").run() == DONE
    indexer.apply(upsert("late", 1, [TOPICS[3]], model=OLD_MODEL))
    rows = index.live.document_rows("acme", "late")
    assert [(row["embedding_model"], row["embedding_model_version"]) for row in rows] == [(NEW_MODEL, minilm.model_version())]
    vector = rebuilds.embedders.for_model(NEW_MODEL).embed(["Where do visitors park?"]).vectors[0]
    assert index.live.search(vector, ACCESS, 1)[0][0]["document_id"] == "late"


def test_a_withdrawn_request_leaves_the_live_index_as_it_was(rebuilds, tmp_path):
    index, indexer = rebuilds.index, rebuilds.indexer
    for n in range(70):
        indexer.apply(upsert(f"doc-{n}", 1, [TOPICS[n % 4]], first_axis=n))
    asked = [0]

    def wanted_once() -> bool:
        asked[0] += 1
        return asked[0] < 2

    assert rebuilds.rebuild("r1", wanted_once).run() == CANCELLED
    assert (index.live.name, index.live.model) == ("chunks_v1", OLD_MODEL)
    assert collections(tmp_path) == ["chunks_v1"]
    # Nothing listens for changes any more, and indexing goes on.
    assert indexer.apply(upsert("after", 1, ["still indexed"])).outcome == "indexed"


def test_what_an_interrupted_rebuild_left_behind_is_dropped_by_the_next(rebuilds, tmp_path):
    index, indexer = rebuilds.index, rebuilds.indexer
    indexer.apply(upsert("doc", 1, [TOPICS[1]]))
    index.create_next(NEW_MODEL, "killed", minilm.DIMENSION, "r0")  # as a kill -9 mid-rebuild leaves it
    assert rebuilds.rebuild("r1").run() == DONE
    assert collections(tmp_path) == [index.live.name]
    assert (index.live.request, index.live.model_version) == ("r1", minilm.model_version())
    assert index.live.document_chunks("acme", "doc") == [("acme/doc/v1/0", 1)]


def create_pre_alias_collection(path) -> None:
    """A collection as the first version of retrieval made it: named like the alias, without published_at."""
    client = MilvusClient(uri=str(path / "ragline.db"))
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    varchar = DataType.VARCHAR
    schema.add_field("chunk_id", varchar, is_primary=True, max_length=256)
    for name, length in (("tenant", 128), ("document_id", 512)):
        schema.add_field(name, varchar, max_length=length)
    schema.add_field("document_version", DataType.INT64)
    schema.add_field("ordinal", DataType.INT32)
    schema.add_field("text", varchar, max_length=65535)
    schema.add_field("heading_path", DataType.JSON)
    schema.add_field("sensitivity", DataType.INT32)
    for name in ("access_users", "access_groups"):
        schema.add_field(name, DataType.ARRAY, element_type=varchar, max_capacity=4096, max_length=256)
    for name, length in (("title", 2048), ("source_uri", 4096), ("origin_system", 256), ("author", 512), ("content_hash", 128)):
        schema.add_field(name, varchar, max_length=length)
    for name in ("created_at", "updated_at"):
        schema.add_field(name, DataType.INT64)
    schema.add_field("suspected_injection", DataType.BOOL)
    schema.add_field("embedding_model", varchar, max_length=256)
    schema.add_field("embedding_model_version", varchar, max_length=128)
    schema.add_field("indexed_at", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=minilm.DIMENSION)
    indexes = MilvusClient.prepare_index_params()
    indexes.add_index("vector", index_type="FLAT", metric_type="COSINE")
    client.create_collection("chunks", schema=schema, index_params=indexes, properties={MODEL_PROPERTY: OLD_MODEL})
    client.close()


def readable_documents(index: ChunkIndex) -> set[str]:
    """What alice (users=["alice"] in every event here) finds, through the filter the live collection can take."""
    access = AccessFilter.of(Principal("alice", "acme", (), INTERNAL))
    expression = access.expression(by_tokens=index.live.has_reader_tokens)
    return {row["document_id"] for row, _ in index.live.search(axis(2), expression, 10)}


def test_a_collection_from_before_aliases_serves_and_a_rebuild_moves_it_to_the_current_layout(tmp_path, new_model_address):
    create_pre_alias_collection(tmp_path)
    index = ChunkIndex(settings(tmp_path))
    embedders = EmbeddingClients(EmbeddingClient(new_model_address, NoCredentials(), 60))
    indexer = ChunkIndexer(index, embedders)
    try:
        assert index.live.name == "chunks" and "published_at" not in index.live.fields
        assert indexer.apply(upsert("doc", 1, [TOPICS[2]])).outcome == "indexed"
        # Without reader tokens (docs/adr/0013) the access arrays are searched, until the rebuild adds them.
        assert not index.live.has_reader_tokens and readable_documents(index) == {"doc"}
        rebuild = Rebuilds(index, indexer, embedders, new_model_address).rebuild("r1")
        assert rebuild.run() == DONE
        assert (index.live.name, "published_at" in index.live.fields) == ("chunks_v1", True)
        assert index.live.document_rows("acme", "doc")[0]["published_at"] == 0  # unknown before the field existed
        assert index.live.has_reader_tokens and readable_documents(index) == {"doc"}
    finally:
        index.close()
    reopened = ChunkIndex(settings(tmp_path))
    try:
        assert (reopened.live.name, reopened.live.model) == ("chunks_v1", NEW_MODEL)
        assert collections(tmp_path) == ["chunks_v1"]
    finally:
        reopened.close()
