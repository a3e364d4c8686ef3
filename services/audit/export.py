"""A tenant's audit records as JSON Lines, for a SIEM.

One object per record, keys in snake_case: `sequence`, `stored_at`, `hash`,
`prev_hash`, then the event's fields in proto3 JSON (every field present,
empty ones too, so that a parser sees one schema), then `event_bytes`: the
base64 of the exact bytes that were hashed, so that anyone can recompute
`hash = SHA-256(bytes.fromhex(prev_hash) || uint64_be(sequence) || event_bytes)`
without Ragline.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Iterator

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from services.audit.store import AuditQuery, AuditStore, StoredRecord

PAGE_SIZE = 500


def json_line(record: StoredRecord) -> bytes:
    stored_at = Timestamp()
    stored_at.FromNanoseconds(record.stored_at_ns)
    line = {
        "sequence": record.sequence,
        "stored_at": stored_at.ToJsonString(),
        "hash": record.hash,
        "prev_hash": record.prev_hash,
        **json_format.MessageToDict(
            record.event, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
        ),
        "event_bytes": base64.b64encode(record.event_bytes).decode("ascii"),
    }
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def export_chunks(store: AuditStore, query: AuditQuery, chunk_bytes: int) -> Iterator[bytes]:
    """The matching records in sequence order, as chunks of whole lines of about `chunk_bytes`.

    The store is read a page at a time, each in its own read, so that a long
    export never holds one read transaction open (which would keep SQLite
    from checkpointing its WAL).
    """
    chunk = bytearray()
    after = 0
    while True:
        records = store.query(replace(query, after_sequence=after, limit=PAGE_SIZE))
        for record in records:
            chunk += json_line(record)
            if len(chunk) >= chunk_bytes:
                yield bytes(chunk)
                chunk.clear()
        if len(records) < PAGE_SIZE:
            break
        after = records[-1].sequence
    if chunk:
        yield bytes(chunk)
