"""What the retrieval service accepts: Search requests and embedding events."""

from __future__ import annotations

import math

import grpc
import pytest

from ragline.v1 import chunks_pb2, common_pb2, embeddings_pb2, retrieval_pb2
from services.retrieval.indexer import MAX_CHUNKS, validate, vectors_problem
from services.retrieval.rows import DIMENSION
from services.retrieval.server import DEFAULT_TOP_K, MAX_TOP_K, SearchFailed, parse_request

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
UNIT = [1.0] + [0.0] * (DIMENSION - 1)


def invalid_search(**fields) -> str:
    with pytest.raises(SearchFailed) as failure:
        parse_request(retrieval_pb2.SearchRequest(**fields))
    assert failure.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.outcome == "invalid"
    return failure.value.message


def test_search_defaults_top_k_and_dedupes_documents():
    query = parse_request(retrieval_pb2.SearchRequest(query="how do refunds work", document_ids=["a", "b", "a"]))
    assert (query.top_k, query.vector, query.document_ids) == (DEFAULT_TOP_K, (), ("a", "b"))


def test_search_with_vector_needs_no_text():
    query = parse_request(retrieval_pb2.SearchRequest(query_vector=UNIT, top_k=MAX_TOP_K))
    assert len(query.vector) == DIMENSION and query.top_k == MAX_TOP_K


@pytest.mark.parametrize(
    "fields, says",
    [
        ({}, "query is empty"),
        ({"query": "   "}, "query is empty"),
        ({"query": "x" * 4001}, "at most 4000"),
        ({"query_vector": [1.0, 0.0]}, f"has 2 dimensions; the index holds vectors of {DIMENSION}"),
        ({"query_vector": [0.0] * DIMENSION}, "zero or not finite"),
        ({"query_vector": [math.nan] + [1.0] * (DIMENSION - 1)}, "zero or not finite"),
        ({"query": "q", "top_k": MAX_TOP_K + 1}, "ask for 1 to 50"),
        ({"query": "q", "top_k": -1}, "ask for 1 to 50"),
        ({"query": "q", "document_ids": [f"d{i}" for i in range(101)]}, "at most 100 documents"),
        ({"query": "q", "document_ids": [""]}, "empty id"),
        ({"query": "q", "document_ids": ["ok", "bad\x00"]}, "control character"),
    ],
)
def test_search_rejects_with_an_actionable_message(fields, says):
    assert says in invalid_search(**fields)


def event(chunks: int = 2, **overrides) -> embeddings_pb2.EmbeddingEvent:
    result = embeddings_pb2.EmbeddingEvent(
        header=common_pb2.EventHeader(event_id="e1", tenant="acme"),
        document_id="doc-1",
        document_version=3,
        embedding_model=MODEL,
        embedding_model_version="0.1.0+abc",
    )
    for ordinal in range(chunks):
        result.upsert.chunks.add(
            chunk=chunks_pb2.Chunk(
                chunk_id=f"doc-1:3:{ordinal}",
                document_id="doc-1",
                ordinal=ordinal,
                text=f"chunk {ordinal}",
                provenance=common_pb2.Provenance(
                    sensitivity=common_pb2.SENSITIVITY_INTERNAL,
                    document_version=3,
                    access=common_pb2.AccessList(users=["alice"]),
                ),
            ),
            vector=UNIT,
        )
    result.upsert.SetInParent()
    for path, value in overrides.items():
        target, _, name = path.rpartition(".")
        holder = result
        for part in target.split(".") if target else ():
            holder = holder.upsert.chunks[0] if part == "chunk0" else getattr(holder, part)
        if isinstance(value, list):
            getattr(holder, name)[:] = value
        else:
            setattr(holder, name, value)
    return result


def test_a_well_formed_event_is_valid():
    assert validate(event()) is None
    assert vectors_problem(event(), DIMENSION) is None


def test_deletes_need_no_model_or_vectors():
    deletion = embeddings_pb2.EmbeddingEvent(
        header=common_pb2.EventHeader(tenant="acme"), document_id="doc-1", embedding_model="another-model"
    )
    deletion.delete.document_version = 0
    assert validate(deletion) is None
    deletion.delete.document_version = -1
    assert "negative" in validate(deletion)


def test_another_models_vectors_are_no_reason_to_refuse_an_event():
    # The indexer embeds its chunks again with the index's model instead.
    assert validate(event(embedding_model="text-embedding-3-small", **{"chunk0.vector": [0.5] * 1536})) is None


@pytest.mark.parametrize(
    "vector, says",
    [
        ([1.0] * 768, "768 dimensions, the index 384"),
        ([0.0] * DIMENSION, "zero or not finite"),
        ([math.inf] * DIMENSION, "zero or not finite"),
    ],
)
def test_vectors_that_cannot_go_into_the_index_say_why(vector, says):
    problem = vectors_problem(event(**{"chunk0.vector": vector}), DIMENSION)
    assert problem is not None and says in problem and problem.startswith("chunk 0:")


@pytest.mark.parametrize(
    "overrides, says",
    [
        ({"header.tenant": ""}, "header.tenant is empty"),
        ({"document_id": ""}, "document_id is empty"),
        ({"document_id": "doc\n1"}, "control character"),
        ({"header.tenant": "t" * 129}, "longer than 128 bytes"),
        ({"embedding_model": "m" * 257}, "embedding_model is longer than 256 bytes"),
        ({"document_version": -1}, "negative"),
        ({"chunk0.chunk.chunk_id": ""}, "chunk_id is empty"),
        ({"chunk0.chunk.chunk_id": "doc-1:3:1"}, "appears twice"),
        ({"chunk0.chunk.chunk_id": "tombstone:" + "0" * 64}, "keeps for the tombstones of deleted documents"),
        ({"chunk0.chunk.document_id": "doc-2"}, "belongs to document"),
        ({"chunk0.chunk.provenance.document_version": 2}, "has document version 2"),
        ({"chunk0.chunk.provenance.sensitivity": 0}, "sensitivity 0"),
        ({"chunk0.chunk.provenance.sensitivity": 9}, "sensitivity 9"),
        ({"chunk0.chunk.text": "é" * 40000}, "text is longer than 65535 bytes"),
        ({"chunk0.chunk.text": " \n"}, "has no text"),
        ({"chunk0.chunk.provenance.access.groups": ["g" * 257]}, "access.groups is longer than 256 bytes"),
    ],
)
def test_invalid_events_say_why(overrides, says):
    problem = validate(event(**overrides))
    assert problem is not None and says in problem


def test_neither_upsert_nor_delete_is_invalid():
    empty = embeddings_pb2.EmbeddingEvent(header=common_pb2.EventHeader(tenant="acme"), document_id="d")
    assert validate(empty) == "neither upsert nor delete is set"


def test_too_many_chunks_is_invalid():
    assert f"at most {MAX_CHUNKS}" in validate(event(chunks=MAX_CHUNKS + 1))
