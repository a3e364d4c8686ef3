"""Applies embedding events to the chunk index, idempotently.

Upsert of document D at version v: if the index holds D at a version above v,
nothing happens (a late older version never wins); if it holds exactly the
chunks of this event, nothing happens (a replay changes nothing); otherwise
the new chunks are upserted, then every other chunk of D at or below v is
deleted, so a shorter new version leaves none of the old one searchable.
Delete of D at version v removes every chunk of D at or below v (0: all).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np
from opentelemetry import trace

from ragline.auditing import AuditTrail
from ragline.kafka import RejectedEvent
from ragline.v1 import common_pb2, embeddings_pb2
from services.retrieval.access import UnquotableValue, quote
from services.retrieval.index import QUERY_WINDOW, ChunkIndex, IndexRequestError
from services.retrieval.rows import (
    DIMENSION,
    MAX_ACCESS_ENTRIES,
    MAX_ACCESS_ENTRY_BYTES,
    MAX_BYTES,
    MAX_HEADING_PATH_BYTES,
    access_entries,
    chunk_rows,
)

SERVICE_PRINCIPAL = "service:retrieval"
# Well below QUERY_WINDOW, so that one query always sees a whole document version.
MAX_CHUNKS = 4096
SENSITIVITIES = range(common_pb2.SENSITIVITY_PUBLIC, common_pb2.SENSITIVITY_RESTRICTED + 1)


@dataclass(frozen=True)
class IndexChange:
    """What applying one event did to the index."""

    outcome: str  # "indexed", "unchanged", "stale", "deleted" or "absent"
    indexed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


class ChunkIndexer:
    def __init__(self, index: ChunkIndex):
        self._index = index

    def apply(self, event: embeddings_pb2.EmbeddingEvent) -> IndexChange:
        """Apply one event; raise RejectedEvent if it can never be applied, and
        IndexUnavailable (a TransientError) if Milvus failed for now."""
        tenant = event.header.tenant
        problem = validate(event, self._index.model)
        if problem:
            raise RejectedEvent("validate", problem, tenant)
        try:
            with self._index.writing():
                change = self._upsert(event) if event.HasField("upsert") else self._delete(event)
        except IndexRequestError as error:
            raise RejectedEvent("index", str(error), tenant) from None
        trace.get_current_span().set_attributes(
            {
                "ragline.tenant": tenant,
                "ragline.document.id": event.document_id,
                "ragline.document.version": event.document_version,
                "ragline.index.outcome": change.outcome,
                "ragline.index.chunks_indexed": len(change.indexed),
                "ragline.index.chunks_removed": len(change.removed),
            }
        )
        return change

    def _upsert(self, event: embeddings_pb2.EmbeddingEvent) -> IndexChange:
        tenant, document_id, version = event.header.tenant, event.document_id, event.document_version
        chunk_ids = [embedded.chunk.chunk_id for embedded in event.upsert.chunks]
        # Chunk ids are primary keys: an id indexed for another document would
        # otherwise be overwritten, possibly across tenants.
        owners = self._index.owners(chunk_ids)
        foreign = sorted(chunk_id for chunk_id, owner in owners.items() if owner != (tenant, document_id))
        if foreign:
            reason = f"chunk ids already indexed for another document: {', '.join(foreign[:5])}"
            raise RejectedEvent("validate", reason, tenant)
        if self._index.has_version_above(tenant, document_id, version):
            return IndexChange("stale")
        current = self._index.document_chunks(tenant, document_id)
        if len(current) < QUERY_WINDOW and set(current) == {(chunk_id, version) for chunk_id in chunk_ids}:
            return IndexChange("unchanged")
        self._index.upsert(chunk_rows(event, time.time_ns() // 1_000_000))
        removed = self._remove(tenant, document_id, version, keep=frozenset(chunk_ids))
        return IndexChange("indexed", tuple(chunk_ids), removed)

    def _delete(self, event: embeddings_pb2.EmbeddingEvent) -> IndexChange:
        version = event.delete.document_version
        removed = self._remove(event.header.tenant, event.document_id, version or None, keep=frozenset())
        return IndexChange("deleted" if removed else "absent", removed=removed)

    def _remove(self, tenant: str, document_id: str, max_version: int | None, keep: frozenset[str]) -> tuple[str, ...]:
        """Delete the document's chunks at or below `max_version` (None: all) that are not in `keep`."""
        removed: list[str] = []
        while True:
            chunks = self._index.document_chunks(tenant, document_id, max_version)
            stale = [chunk_id for chunk_id, _ in chunks if chunk_id not in keep]
            self._index.delete(stale)
            removed.extend(stale)
            if not stale or len(chunks) < QUERY_WINDOW:
                return tuple(removed)


def record(audit: AuditTrail, event: embeddings_pb2.EmbeddingEvent, change: IndexChange) -> None:
    """Audit what an event did: chunks indexed, and chunks removed (superseded or deleted)."""
    tenant, document_ids = event.header.tenant, [event.document_id]
    details = {"document_version": str(event.document_version), "event_id": event.header.event_id}
    if event.HasField("upsert"):
        audit.record(
            "index.updated",
            tenant,
            SERVICE_PRINCIPAL,
            change.outcome,
            document_ids=document_ids,
            chunk_ids=change.indexed,
            details={**details, "embedding_model": event.embedding_model},
        )
        if change.removed:
            audit.record(
                "index.deleted",
                tenant,
                SERVICE_PRINCIPAL,
                "superseded",
                document_ids=document_ids,
                chunk_ids=change.removed,
                details=details,
            )
    else:
        audit.record(
            "index.deleted",
            tenant,
            SERVICE_PRINCIPAL,
            change.outcome,
            document_ids=document_ids,
            chunk_ids=change.removed,
            details={**details, "deleted_up_to_version": str(event.delete.document_version)},
        )


def validate(event: embeddings_pb2.EmbeddingEvent, model: str) -> str | None:
    """Why an embedding event cannot be indexed, or None."""
    for name, value in (("header.tenant", event.header.tenant), ("document_id", event.document_id)):
        problem = _id_problem(name, value, MAX_BYTES[name.removeprefix("header.")])
        if problem:
            return problem
    if event.HasField("delete"):
        if event.delete.document_version < 0:
            return f"delete.document_version {event.delete.document_version} is negative"
        return None
    if not event.HasField("upsert"):
        return "neither upsert nor delete is set"
    if event.document_version < 0:
        return f"document_version {event.document_version} is negative"
    if event.embedding_model != model:
        return f"vectors are from model {event.embedding_model!r} but this index holds vectors of {model!r}"
    problem = _too_long({"embedding_model_version": event.embedding_model_version})
    if problem:
        return problem
    if len(event.upsert.chunks) > MAX_CHUNKS:
        return f"{len(event.upsert.chunks)} chunks in one document; at most {MAX_CHUNKS} are indexed"
    seen: set[str] = set()
    for embedded in event.upsert.chunks:
        problem = _chunk_problem(event, embedded)
        if problem:
            return f"chunk {embedded.chunk.ordinal}: {problem}"
        if embedded.chunk.chunk_id in seen:
            return f"chunk id {embedded.chunk.chunk_id} appears twice"
        seen.add(embedded.chunk.chunk_id)
    return None


def _chunk_problem(event: embeddings_pb2.EmbeddingEvent, embedded: embeddings_pb2.EmbeddedChunk) -> str | None:
    chunk = embedded.chunk
    provenance = chunk.provenance
    problem = _id_problem("chunk_id", chunk.chunk_id, MAX_BYTES["chunk_id"])
    if problem:
        return problem
    if chunk.document_id and chunk.document_id != event.document_id:
        return f"belongs to document {chunk.document_id!r}, not {event.document_id!r}"
    if provenance.document_version and provenance.document_version != event.document_version:
        return f"has document version {provenance.document_version}, the event {event.document_version}"
    if provenance.sensitivity not in SENSITIVITIES:
        return f"sensitivity {provenance.sensitivity} is not a label from PUBLIC to RESTRICTED (every chunk needs one)"
    if len(embedded.vector) != DIMENSION:
        return f"vector has {len(embedded.vector)} dimensions, the index {DIMENSION}"
    vector = np.asarray(embedded.vector, dtype=np.float32)
    if not np.isfinite(vector).all() or not np.any(vector):
        return "vector is zero or not finite, so it has no direction to compare"
    for name, entries in (("access.users", provenance.access.users), ("access.groups", provenance.access.groups)):
        kept = access_entries(entries)
        if len(kept) > MAX_ACCESS_ENTRIES:
            return f"{name} has {len(kept)} entries; at most {MAX_ACCESS_ENTRIES} (grant groups instead)"
        if any(len(entry.encode()) > MAX_ACCESS_ENTRY_BYTES for entry in kept):
            return f"an entry of {name} is longer than {MAX_ACCESS_ENTRY_BYTES} bytes"
    if len(json.dumps(list(chunk.heading_path), ensure_ascii=False).encode()) > MAX_HEADING_PATH_BYTES:
        return f"heading_path is longer than {MAX_HEADING_PATH_BYTES} bytes"
    return _too_long(
        {
            "text": chunk.text,
            "title": provenance.title,
            "source_uri": provenance.source_uri,
            "origin_system": provenance.origin_system,
            "author": provenance.author,
            "content_hash": provenance.content_hash,
        }
    )


def _too_long(values: dict[str, str]) -> str | None:
    for name, value in values.items():
        if len(value.encode()) > MAX_BYTES[name]:
            return f"{name} is longer than {MAX_BYTES[name]} bytes"
    return None


def _id_problem(name: str, value: str, max_bytes: int) -> str | None:
    if not value:
        return f"{name} is empty"
    if len(value.encode()) > max_bytes:
        return f"{name} is longer than {max_bytes} bytes"
    try:
        quote(value)
    except UnquotableValue:
        return f"{name} contains a control character"
    return None
