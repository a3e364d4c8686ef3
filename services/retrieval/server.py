"""The Search gRPC call: the chunks nearest a query among those the caller's
token allows, with provenance, each call audited."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import grpc
import numpy as np
from confluent_kafka import KafkaException
from opentelemetry import trace

from ragline.auditing import AuditTrail
from ragline.auth import Principal, current_principal
from ragline.v1 import retrieval_pb2, retrieval_pb2_grpc
from services.retrieval.access import AccessFilter, UnquotableValue, quote
from services.retrieval.embedding_client import EmbeddingClients, EmbeddingMismatch
from services.retrieval.index import ChunkCollection, ChunkIndex, IndexRequestError, IndexUnavailable
from services.retrieval.rows import DIMENSION, MAX_BYTES, search_hit

log = logging.getLogger(__name__)

DEFAULT_TOP_K = 5
MAX_TOP_K = 50
MAX_QUERY_CHARS = 4000
MAX_DOCUMENT_IDS = 100


class SearchFailed(Exception):
    """A search that ends with a gRPC error; `outcome` is what the audit log records."""

    def __init__(self, code: grpc.StatusCode, message: str, outcome: str = "error"):
        super().__init__(message)
        self.code = code
        self.message = message
        self.outcome = outcome


@dataclass(frozen=True)
class SearchQuery:
    text: str
    vector: tuple[float, ...]  # empty: embed `text`
    top_k: int
    document_ids: tuple[str, ...]


def parse_request(request: retrieval_pb2.SearchRequest, dimension: int = DIMENSION) -> SearchQuery:
    """The request as a query for an index of `dimension`, or SearchFailed(INVALID_ARGUMENT) saying what to fix."""

    def invalid(message: str) -> SearchFailed:
        return SearchFailed(grpc.StatusCode.INVALID_ARGUMENT, message, "invalid")

    vector = tuple(request.query_vector)
    if not vector and not request.query.strip():
        raise invalid("query is empty: send the question in `query`, or a vector in `query_vector`")
    if len(request.query) > MAX_QUERY_CHARS:
        raise invalid(f"query has {len(request.query)} characters; at most {MAX_QUERY_CHARS} are accepted")
    if vector:
        problem = vector_problem(vector, dimension)
        if problem:
            raise invalid(f"query_vector {problem}")
    if request.top_k < 0 or request.top_k > MAX_TOP_K:
        raise invalid(f"top_k {request.top_k} is out of range: ask for 1 to {MAX_TOP_K} hits (0 means {DEFAULT_TOP_K})")
    document_ids = tuple(dict.fromkeys(request.document_ids))
    if len(document_ids) > MAX_DOCUMENT_IDS:
        raise invalid(f"{len(document_ids)} document_ids; narrow to at most {MAX_DOCUMENT_IDS} documents")
    for document_id in document_ids:
        if not document_id or len(document_id.encode()) > MAX_BYTES["document_id"]:
            raise invalid(f"document_ids holds an empty id or one longer than {MAX_BYTES['document_id']} bytes")
        try:
            quote(document_id)
        except UnquotableValue:
            raise invalid(f"document id {document_id!r} contains a control character") from None
    return SearchQuery(request.query, vector, request.top_k or DEFAULT_TOP_K, document_ids)


def vector_problem(vector: tuple[float, ...] | list[float], dimension: int) -> str | None:
    if len(vector) != dimension:
        return f"has {len(vector)} dimensions; the index holds vectors of {dimension}"
    array = np.asarray(vector, dtype=np.float32)
    if not np.isfinite(array).all() or not np.any(array):
        return "is zero or not finite, so it has no direction to compare"
    return None


class RetrievalServicer(retrieval_pb2_grpc.RetrievalServiceServicer):
    def __init__(
        self,
        index: ChunkIndex,
        embedders: EmbeddingClients,
        audit: AuditTrail,
        confirm_audit: Callable[[], None],
        embed_timeout_s: float,
    ):
        self._index = index
        self._embedders = embedders
        self._audit = audit
        # Waits until the audit records are stored: results are returned only
        # once the search is on the record.
        self._confirm_audit = confirm_audit
        self._embed_timeout_s = embed_timeout_s

    def Search(
        self, request: retrieval_pb2.SearchRequest, context: grpc.ServicerContext
    ) -> retrieval_pb2.SearchResponse:
        principal = current_principal.get()
        query: SearchQuery | None = None
        # One collection for the whole call, even if a re-index switches meanwhile.
        live = self._index.live
        try:
            query = parse_request(request, live.dimension)
            outcome, hits = self._search(live, query, principal, context)
            self._record(principal, outcome, request, query, hits)
        except SearchFailed as failure:
            try:
                self._record(principal, failure.outcome, request, query, [])
            except SearchFailed as unaudited:
                log.error("failed search not audited", extra={"fields": {"error": unaudited.message}})
            context.abort(failure.code, failure.message)
        trace.get_current_span().set_attributes(
            {
                "ragline.retrieval.top_k": query.top_k,
                "ragline.retrieval.hits": len(hits),
                "ragline.retrieval.outcome": outcome,
            }
        )
        return retrieval_pb2.SearchResponse(hits=hits, embedding_model=live.model)

    def _search(
        self, live: ChunkCollection, query: SearchQuery, principal: Principal | None, context: grpc.ServicerContext
    ) -> tuple[str, list[retrieval_pb2.SearchHit]]:
        access = AccessFilter.of(principal)
        if access is None:
            # Fail closed: a token without tenant, subject or clearance reads nothing.
            return "no_access", []
        vector = query.vector or self._embed(live, query.text, context)
        try:
            expression = access.expression(query.document_ids, by_tokens=live.has_reader_tokens)
            results = live.search(vector, expression, query.top_k)
        except IndexUnavailable as error:
            message = f"the vector index is unavailable, retry shortly: {error}"
            raise SearchFailed(grpc.StatusCode.UNAVAILABLE, message) from None
        except IndexRequestError as error:
            raise SearchFailed(grpc.StatusCode.INTERNAL, f"the vector index refused the search: {error}") from None
        return "ok", [search_hit(row, score) for row, score in results]

    def _embed(self, live: ChunkCollection, text: str, context: grpc.ServicerContext) -> tuple[float, ...]:
        remaining = context.time_remaining()
        timeout = self._embed_timeout_s if remaining is None else min(self._embed_timeout_s, remaining)
        client = self._embedders.for_model(live.model)
        try:
            embedded = client.embed([text], timeout)
        except grpc.RpcError as error:
            raise SearchFailed(error.code(), f"embedding the query failed: {error.details()}") from None
        except EmbeddingMismatch as error:
            raise SearchFailed(grpc.StatusCode.INTERNAL, f"embedding the query failed: {error}") from None
        if embedded.model != live.model:
            raise SearchFailed(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"the embedding service at {client.address} embeds with {embedded.model!r} but the index holds "
                f"vectors of {live.model!r}: point RAGLINE_EMBEDDING_ADDR at an embedding service running the index's model",
            )
        vector = embedded.vectors[0]
        problem = vector_problem(vector, live.dimension)
        if problem:
            raise SearchFailed(grpc.StatusCode.INTERNAL, f"the embedding service returned a vector that {problem}")
        return tuple(vector)

    def _record(
        self,
        principal: Principal | None,
        outcome: str,
        request: retrieval_pb2.SearchRequest,
        query: SearchQuery | None,
        hits: list[retrieval_pb2.SearchHit],
    ) -> None:
        """Audit the call and wait until the record is stored."""
        details = {"top_k": str(query.top_k if query else request.top_k), "hits": str(len(hits))}
        if query:
            details["query_by"] = "vector" if query.vector else "text"
            details["narrowed_to_documents"] = str(len(query.document_ids))
        self._audit.record(
            "search",
            principal.tenant if principal else "",
            principal.subject if principal else "",
            outcome,
            document_ids=list(dict.fromkeys(hit.document_id for hit in hits)),
            chunk_ids=[hit.chunk_id for hit in hits],
            details=details,
        )
        try:
            self._confirm_audit()
        except KafkaException as error:
            raise SearchFailed(
                grpc.StatusCode.UNAVAILABLE,
                f"the audit log did not confirm this search, so its results are withheld; retry shortly ({error})",
                "withheld",
            ) from None
