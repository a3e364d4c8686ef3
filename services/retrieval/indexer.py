"""Applies embedding events to the live collection, idempotently.

Upsert of document D at version v: if the index holds D at a version above v,
or D's tombstone says it was deleted at or above v, nothing happens (a late
older version never wins, not even over a delete); if it holds exactly the
chunks of this event, nothing happens (a replay changes nothing); otherwise
the new chunks are upserted, then every other chunk of D (all are at or below
v) and its tombstone are deleted, so a shorter new version leaves none of the
old one searchable.
Delete of D at version v writes D's tombstone at v (0: at the newest version
indexed) unless a newer chunk or tombstone covers it already, then removes
every chunk of D at or below v (0: all).

What the index holds for D is read in one query (ChunkCollection.document_state);
the write lock keeps it true until the writes that follow. A batch of events for
distinct documents is read in one query for all and written in one upsert and
one delete (apply_all), each event decided by the same code.

Vectors of another model than the index's are never mixed in: such an event's
chunks are embedded again by the embedding service of the index's model.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import grpc
import numpy as np
from opentelemetry import trace

from ragline.auditing import AuditTrail
from ragline.kafka import RejectedEvent, TransientError
from ragline.v1 import common_pb2, embeddings_pb2
from services.retrieval.access import UnquotableValue, quote
from services.retrieval.embedding_client import EmbeddingClients, EmbeddingMismatch
from services.retrieval.index import ChunkCollection, ChunkIndex, DocumentState, IndexRequestError, tombstone_id
from services.retrieval.rows import (
    MAX_ACCESS_ENTRIES,
    MAX_ACCESS_ENTRY_BYTES,
    MAX_BYTES,
    MAX_HEADING_PATH_BYTES,
    TOMBSTONE_PREFIX,
    access_entries,
    chunk_rows,
)

SERVICE_PRINCIPAL = "service:retrieval"
# Well below QUERY_WINDOW, so that one query always sees a whole document version.
MAX_CHUNKS = 4096
SENSITIVITIES = range(common_pb2.SENSITIVITY_PUBLIC, common_pb2.SENSITIVITY_RESTRICTED + 1)
# Outcomes that changed what a search can return.
CHANGING = frozenset({"indexed", "deleted"})


@dataclass(frozen=True)
class IndexChange:
    """What applying one event did to the index."""

    outcome: str  # "indexed", "unchanged", "stale", "deleted" or "absent"
    indexed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    # Unchanged: the event's chunks, already in the index. Audited, so that a
    # redelivery after a crash between the write and its audit record still
    # puts the searchable chunks on the record.
    present: tuple[str, ...] = ()
    # A tombstone was written: searches find nothing new, but a re-index must copy it.
    tombstoned: bool = False


class ChangeListener(Protocol):
    def changed(self, tenant: str, document_id: str) -> None: ...


class TenantChanges(Protocol):
    def bump(self, tenants: set[str]) -> None: ...


class FreshnessRecorder(Protocol):
    def record(self, amount: float) -> None: ...


class ChunkIndexer:
    def __init__(
        self,
        index: ChunkIndex,
        embedders: EmbeddingClients,
        generations: TenantChanges | None = None,
        freshness: FreshnessRecorder | None = None,
    ):
        self._index = index
        self._embedders = embedders
        self._generations = generations
        self._freshness = freshness
        self._listener: ChangeListener | None = None

    def listen(self, listener: ChangeListener | None) -> None:
        """Tell `listener` about every document the live collection changes for
        (a re-index in progress); None stops. Call it holding `index.writing()`."""
        self._listener = listener

    def apply(self, event: embeddings_pb2.EmbeddingEvent) -> IndexChange:
        """Apply one event; raise RejectedEvent if it can never be applied, and
        a TransientError if Milvus or the embedding service failed for now."""
        tenant = event.header.tenant
        problem = validate(event)
        if problem:
            raise RejectedEvent("validate", problem, tenant)
        if event.HasField("upsert"):
            event = self._in_model_of(self._index.live, event)
        try:
            with self._index.writing():
                live = self._index.live
                if event.HasField("upsert") and event.embedding_model != live.model:
                    # A re-index switched the live collection meanwhile (once per re-index).
                    event = self._in_model_of(live, event)
                change = self._upsert(live, event) if event.HasField("upsert") else self._delete(live, event)
                if (change.outcome in CHANGING or change.tombstoned) and self._listener is not None:
                    self._listener.changed(tenant, event.document_id)
        except IndexRequestError as error:
            raise RejectedEvent("index", str(error), tenant) from None
        self.applied(event, change)
        return change

    def apply_all(self, events: Sequence[embeddings_pb2.EmbeddingEvent]) -> list[IndexChange | RejectedEvent] | None:
        """Apply a batch with one query, one upsert and one delete, each event
        deciding exactly as apply() would: its change, or why it is rejected.
        Call applied() for each change, in its event's span.

        None when the batch is unusual (the same document or chunk id twice,
        vectors of another model, a re-index in progress, more rows than one
        query returns, a request Milvus refuses): then apply() each event
        instead. Whatever was written by then is what a crash would have left,
        which apply() completes. Raises a TransientError if Milvus failed for now."""
        results: dict[int, IndexChange | RejectedEvent] = {}
        batch: list[tuple[int, embeddings_pb2.EmbeddingEvent]] = []
        for position, event in enumerate(events):
            rejection = self._rejection(event)
            if rejection is None:
                batch.append((position, event))
            else:
                results[position] = rejection
        documents = [(event.header.tenant, event.document_id) for _, event in batch]
        chunk_ids = [chunk_id for _, event in batch for chunk_id in _chunk_ids(event)]
        if len(set(documents)) < len(documents) or len(set(chunk_ids)) < len(chunk_ids):
            return None
        try:
            with self._index.writing():
                live = self._index.live
                if self._listener is not None or any(
                    event.embedding_model != live.model for _, event in batch if event.HasField("upsert")
                ):
                    return None
                asked = [(tenant, document_id, _chunk_ids(event)) for (tenant, document_id), (_, event) in zip(documents, batch)]
                states = live.document_states(asked)
                # A chunk id held by another document of the batch: the outcome would depend on the order.
                if states is None or any(
                    owner != document and owner in documents
                    for document, state in zip(documents, states)
                    for owner in state.owners.values()
                ):
                    return None
                writes = BatchWrites(live, dict(zip(documents, states)))
                for position, event in batch:
                    try:
                        upserting = event.HasField("upsert")
                        results[position] = self._upsert(writes, event) if upserting else self._delete(writes, event)
                    except RejectedEvent as rejection:
                        results[position] = rejection
                # Every row first, then every deletion: for each document the order apply() writes in.
                try:
                    live.upsert(writes.rows)
                    live.delete(writes.deleted)
                except Exception:
                    # Part may be written, and the retry would find it `unchanged`: count the change now.
                    if self._generations is not None and writes.rows:
                        self._generations.bump({tenant for tenant, _ in documents})
                    raise
        except IndexRequestError:
            return None
        return [results[position] for position in range(len(events))]

    def _rejection(self, event: embeddings_pb2.EmbeddingEvent) -> RejectedEvent | None:
        """Why apply() would reject the event before reading the index (its vectors
        judged against the live model), or None."""
        problem = validate(event)
        if not problem and event.HasField("upsert") and event.embedding_model == self._index.live.model:
            problem = vectors_problem(event, self._index.live.dimension)
        return RejectedEvent("validate", problem, event.header.tenant) if problem else None

    def applied(self, event: embeddings_pb2.EmbeddingEvent, change: IndexChange) -> None:
        """Count what an applied event changed: the tenant's generation, the freshness
        of what became searchable, and the current (event's) span's attributes."""
        tenant = event.header.tenant
        if change.outcome in CHANGING and self._generations is not None:
            self._generations.bump({tenant})
        if change.outcome == "indexed" and self._freshness is not None:
            published_ms = max((embedded.chunk.published_at.ToMilliseconds() for embedded in event.upsert.chunks), default=0)
            delay_ms = time.time() * 1000 - published_ms
            # Unset (0) is unknown; a negative delay is clock skew between the producer and here.
            if published_ms > 0 and delay_ms >= 0:
                self._freshness.record(delay_ms / 1000)
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

    def _in_model_of(self, live: ChunkCollection, event: embeddings_pb2.EmbeddingEvent) -> embeddings_pb2.EmbeddingEvent:
        """The event with vectors of the collection's model: as it is, or with
        its chunks embedded again."""
        if event.embedding_model == live.model:
            problem = vectors_problem(event, live.dimension)
            if problem:
                raise RejectedEvent("validate", problem, event.header.tenant)
            return event
        client = self._embedders.for_model(live.model)
        texts = [embedded.chunk.text for embedded in event.upsert.chunks]
        try:
            embedded = client.embed(texts)
        except (grpc.RpcError, EmbeddingMismatch) as error:
            detail = f"{error.code().name}: {error.details()}" if isinstance(error, grpc.RpcError) else str(error)
            raise TransientError(f"cannot embed again with {live.model!r} at {client.address}: {detail}") from None
        if embedded.model != live.model:
            raise TransientError(
                f"event vectors are from {event.embedding_model!r} and the index holds {live.model!r}, but the "
                f"embedding service at {client.address} embeds with {embedded.model!r}: point RAGLINE_EMBEDDING_ADDR "
                "at a service of the index's model"
            )
        again = embeddings_pb2.EmbeddingEvent()
        again.CopyFrom(event)
        again.embedding_model, again.embedding_model_version = embedded.model, embedded.model_version
        for chunk, vector in zip(again.upsert.chunks, embedded.vectors):
            chunk.vector[:] = vector
        problem = vectors_problem(again, live.dimension)
        if problem:
            raise TransientError(f"the embedding service at {client.address} returned a vector that {problem}")
        return again

    def _upsert(self, live: ChunkCollection | BatchWrites, event: embeddings_pb2.EmbeddingEvent) -> IndexChange:
        tenant, document_id, version = event.header.tenant, event.document_id, event.document_version
        chunk_ids = _chunk_ids(event)
        state = live.document_state(tenant, document_id, chunk_ids)
        # Chunk ids are primary keys: an id indexed for another document would
        # otherwise be overwritten, possibly across tenants.
        foreign = sorted(chunk_id for chunk_id, owner in state.owners.items() if owner != (tenant, document_id))
        if foreign:
            reason = f"chunk ids already indexed for another document: {', '.join(foreign[:5])}"
            raise RejectedEvent("validate", reason, tenant)
        if state.supersedes(version):
            return IndexChange("stale")
        wanted = {(chunk_id, version) for chunk_id in chunk_ids}
        if state.deleted_up_to is None and state.chunks is not None and set(state.chunks) == wanted:
            return IndexChange("unchanged", present=tuple(chunk_ids))
        live.upsert(chunk_rows(event, time.time_ns() // 1_000_000))
        keep = frozenset(chunk_ids)
        # Deleted after the upsert: a crash in between leaves both, and the redelivery deletes them.
        tombstone = [tombstone_id(tenant, document_id)] if state.deleted_up_to is not None else []
        if state.chunks is None:
            removed = live.remove(tenant, document_id, version, keep=keep)
            live.delete(tombstone)
        else:
            removed = tuple(chunk_id for chunk_id, _ in state.chunks if chunk_id not in keep)
            live.delete([*removed, *tombstone])
        return IndexChange("indexed", tuple(chunk_ids), removed)

    def _delete(self, live: ChunkCollection | BatchWrites, event: embeddings_pb2.EmbeddingEvent) -> IndexChange:
        tenant, document_id, version = event.header.tenant, event.document_id, event.delete.document_version
        state = live.document_state(tenant, document_id)
        # 0 deletes every version indexed. The tombstone is written before the
        # chunks are deleted, so a redelivery finds the same newest version.
        deleted_up_to = version or state.newest or 0
        covered = state.supersedes(deleted_up_to)
        if not covered:
            live.mark_deleted(tenant, document_id, deleted_up_to)
        if state.chunks is None:
            removed = live.remove(tenant, document_id, version or None, keep=frozenset())
        else:
            removed = tuple(chunk_id for chunk_id, chunk_version in state.chunks if not version or chunk_version <= version)
            live.delete(removed)
        return IndexChange("deleted" if removed else "absent", removed=removed, tombstoned=not covered)


class BatchWrites:
    """Stands in for the live collection while apply_all() decides a batch: answers
    each document's state from the batch's one query, and gathers the writes for
    one upsert and one delete. Those states always list the document's chunks,
    so remove() is never asked for."""

    def __init__(self, live: ChunkCollection, states: dict[tuple[str, str], DocumentState]):
        self._live = live
        self._states = states
        self.rows: list[dict[str, Any]] = []
        self.deleted: list[str] = []

    def document_state(self, tenant: str, document_id: str, chunk_ids: Sequence[str] = ()) -> DocumentState:
        return self._states[(tenant, document_id)]

    def upsert(self, rows: list[dict[str, Any]]) -> None:
        self.rows.extend(rows)

    def mark_deleted(self, tenant: str, document_id: str, version: int) -> None:
        self.rows.append(self._live.tombstone(tenant, document_id, version))

    def delete(self, chunk_ids: Sequence[str]) -> None:
        self.deleted.extend(chunk_ids)


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
            chunk_ids=change.indexed or change.present,
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


def validate(event: embeddings_pb2.EmbeddingEvent) -> str | None:
    """Why an embedding event can never be indexed, whatever its vectors, or None."""
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
    problem = _too_long({"embedding_model": event.embedding_model, "embedding_model_version": event.embedding_model_version})
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


def vectors_problem(event: embeddings_pb2.EmbeddingEvent, dimension: int) -> str | None:
    """Why an upsert's vectors cannot go into a collection of `dimension`, or None."""
    for embedded in event.upsert.chunks:
        if len(embedded.vector) != dimension:
            return f"chunk {embedded.chunk.ordinal}: vector has {len(embedded.vector)} dimensions, the index {dimension}"
        vector = np.asarray(embedded.vector, dtype=np.float32)
        if not np.isfinite(vector).all() or not np.any(vector):
            return f"chunk {embedded.chunk.ordinal}: vector is zero or not finite, so it has no direction to compare"
    return None


def _chunk_problem(event: embeddings_pb2.EmbeddingEvent, embedded: embeddings_pb2.EmbeddedChunk) -> str | None:
    chunk = embedded.chunk
    provenance = chunk.provenance
    problem = _id_problem("chunk_id", chunk.chunk_id, MAX_BYTES["chunk_id"])
    if problem:
        return problem
    if chunk.chunk_id.startswith(TOMBSTONE_PREFIX):
        return f"chunk_id starts with {TOMBSTONE_PREFIX!r}, which the index keeps for the tombstones of deleted documents"
    if chunk.document_id and chunk.document_id != event.document_id:
        return f"belongs to document {chunk.document_id!r}, not {event.document_id!r}"
    if provenance.document_version and provenance.document_version != event.document_version:
        return f"has document version {provenance.document_version}, the event {event.document_version}"
    if provenance.sensitivity not in SENSITIVITIES:
        return f"sensitivity {provenance.sensitivity} is not a label from PUBLIC to RESTRICTED (every chunk needs one)"
    if not chunk.text.strip():
        return "has no text"
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


def _chunk_ids(event: embeddings_pb2.EmbeddingEvent) -> list[str]:
    return [embedded.chunk.chunk_id for embedded in event.upsert.chunks]


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
