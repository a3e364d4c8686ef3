"""How a chunk is stored in the index: the row layout, and its mapping from
embedding events and back to search hits with their provenance."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from ragline import minilm
from ragline.v1 import chunks_pb2, common_pb2, embeddings_pb2, retrieval_pb2

DIMENSION = minilm.DIMENSION

# Longest value, in UTF-8 bytes, of each VARCHAR field (Milvus counts bytes).
MAX_BYTES = {
    "chunk_id": 256,
    "tenant": 128,
    "document_id": 512,
    "text": 65535,
    "title": 2048,
    "source_uri": 4096,
    "origin_system": 256,
    "author": 512,
    "content_hash": 128,
    "embedding_model": 256,
    "embedding_model_version": 128,
    "readers": 65535,
}
# Per list: the reader tokens of both lists must fit `readers` (docs/adr/0013).
MAX_ACCESS_ENTRIES = 1024
MAX_ACCESS_ENTRY_BYTES = 256
MAX_HEADING_PATH_BYTES = 65535

# Every field but the vector: what a search or query returns.
SCALAR_FIELDS = [
    "chunk_id",
    "tenant",
    "document_id",
    "document_version",
    "ordinal",
    "text",
    "heading_path",
    "sensitivity",
    "access_users",
    "access_groups",
    "title",
    "source_uri",
    "origin_system",
    "author",
    "created_at",
    "updated_at",
    "content_hash",
    "suspected_injection",
    "embedding_model",
    "embedding_model_version",
    "published_at",
    "indexed_at",
]
# Fields only filters read: derived from the row when it is written
# (ChunkCollection.upsert), never returned.
FILTER_FIELDS = ["readers"]
# Fields that collections made by earlier versions lack: rows are stored there
# without them, and a re-index (docs/adr/0005) moves the index to a collection
# that has them.
LATER_FIELDS = frozenset({"published_at", "readers"})
# Primary keys of tombstones start with this; no chunk id may (docs/adr/0015).
TOMBSTONE_PREFIX = "tombstone:"


def chunk_rows(event: embeddings_pb2.EmbeddingEvent, indexed_at_ms: int) -> list[dict[str, Any]]:
    """One row per embedded chunk of an upsert event (validated beforehand)."""
    rows = []
    for embedded in event.upsert.chunks:
        chunk = embedded.chunk
        provenance = chunk.provenance
        rows.append(
            {
                "chunk_id": chunk.chunk_id,
                "tenant": event.header.tenant,
                "document_id": event.document_id,
                "document_version": event.document_version,
                "ordinal": chunk.ordinal,
                "text": chunk.text,
                "heading_path": list(chunk.heading_path),
                "sensitivity": int(provenance.sensitivity),
                "access_users": access_entries(provenance.access.users),
                "access_groups": access_entries(provenance.access.groups),
                "title": provenance.title,
                "source_uri": provenance.source_uri,
                "origin_system": provenance.origin_system,
                "author": provenance.author,
                "created_at": _milliseconds(provenance, "created_at"),
                "updated_at": _milliseconds(provenance, "updated_at"),
                "content_hash": provenance.content_hash,
                "suspected_injection": chunk.suspected_injection,
                "embedding_model": event.embedding_model,
                "embedding_model_version": event.embedding_model_version,
                "published_at": _milliseconds(chunk, "published_at"),
                "indexed_at": indexed_at_ms,
                "vector": list(embedded.vector),
            }
        )
    return rows


def tombstone_row(tombstone_id: str, document_id: str, version: int, indexed_at_ms: int) -> dict[str, Any]:
    """The row that says a document was deleted up to `version` (without its vector).
    The empty tenant keeps it out of every search and document lookup; the empty
    access lists, ordinal -1 and the highest label say the same to anyone reading it."""
    return {
        "chunk_id": tombstone_id,
        "tenant": "",
        "document_id": document_id,
        "document_version": version,
        "ordinal": -1,
        "text": "",
        "heading_path": [],
        "sensitivity": int(common_pb2.SENSITIVITY_RESTRICTED),
        "access_users": [],
        "access_groups": [],
        "title": "",
        "source_uri": "",
        "origin_system": "",
        "author": "",
        "created_at": 0,
        "updated_at": 0,
        "content_hash": "",
        "suspected_injection": False,
        "embedding_model": "",
        "embedding_model_version": "",
        "published_at": 0,
        "indexed_at": indexed_at_ms,
    }


def access_entries(values: Any) -> list[str]:
    """Access list entries as stored: empty entries grant nobody, so they are left out."""
    return [value for value in values if value]


def search_hit(row: dict[str, Any], score: float) -> retrieval_pb2.SearchHit:
    provenance = common_pb2.Provenance(
        origin_system=row["origin_system"],
        source_uri=row["source_uri"],
        author=row["author"],
        sensitivity=row["sensitivity"],
        access=common_pb2.AccessList(users=row["access_users"], groups=row["access_groups"]),
        document_version=row["document_version"],
        content_hash=row["content_hash"],
        title=row["title"],
    )
    for field in ("created_at", "updated_at"):
        if row[field]:
            getattr(provenance, field).FromMilliseconds(row[field])
    return retrieval_pb2.SearchHit(
        chunk_id=row["chunk_id"],
        document_id=row["document_id"],
        text=row["text"],
        score=score,
        heading_path=row["heading_path"],
        ordinal=row["ordinal"],
        provenance=provenance,
        suspected_injection=row["suspected_injection"],
    )


def _milliseconds(message: common_pb2.Provenance | chunks_pb2.Chunk, field: str) -> int:
    """Epoch milliseconds, 0 when the timestamp is not set."""
    if not message.HasField(field):
        return 0
    stamp: Timestamp = getattr(message, field)
    return stamp.ToMilliseconds()
