"""How large a document event and its fields may be.

A field far larger than any real one is a publisher's bug or an attack: it is
refused at the door with the limit it broke, instead of bloating every chunk
it would be copied onto or failing in the index later. The maxima are those of
the index schema (services/retrieval/rows.py), so a limit raised by
configuration can never let through what the index cannot store.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragline.config import env_int

# Fixed by the index schema (UTF-8 bytes), not configurable.
TENANT_BYTES = 128
DOCUMENT_ID_BYTES = 512
ORIGIN_SYSTEM_BYTES = 256
ACCESS_ENTRY_BYTES = 256
EVENT_ID_BYTES = 256
MIME_TYPE_BYTES = 255

_INDEX_TITLE_BYTES = 2048
_INDEX_SOURCE_URI_BYTES = 4096
_INDEX_AUTHOR_BYTES = 512
_INDEX_ACCESS_ENTRIES = 1024


@dataclass(frozen=True)
class Limits:
    document_bytes: int = 20 * 1024 * 1024
    title_bytes: int = _INDEX_TITLE_BYTES
    # Also bounds content_uri, which is not stored but is fetched.
    uri_bytes: int = _INDEX_SOURCE_URI_BYTES
    author_bytes: int = _INDEX_AUTHOR_BYTES
    # Metadata is copied onto every chunk: 32 entries of at most 64 + 512 bytes
    # add at most 18 KiB to each.
    metadata_entries: int = 32
    metadata_key_bytes: int = 64
    metadata_value_bytes: int = 512
    # Per list (users, groups). Large audiences belong in groups.
    access_entries: int = 1024

    @classmethod
    def from_env(cls) -> Limits:
        default = cls()
        return cls(
            document_bytes=env_int("RAGLINE_INGEST_MAX_DOCUMENT_BYTES", default.document_bytes, minimum=1),
            title_bytes=env_int("RAGLINE_INGEST_MAX_TITLE_BYTES", default.title_bytes, minimum=1, maximum=_INDEX_TITLE_BYTES),
            uri_bytes=env_int("RAGLINE_INGEST_MAX_URI_BYTES", default.uri_bytes, minimum=16, maximum=_INDEX_SOURCE_URI_BYTES),
            author_bytes=env_int("RAGLINE_INGEST_MAX_AUTHOR_BYTES", default.author_bytes, minimum=1, maximum=_INDEX_AUTHOR_BYTES),
            metadata_entries=env_int("RAGLINE_INGEST_MAX_METADATA_ENTRIES", default.metadata_entries, minimum=0, maximum=1024),
            metadata_key_bytes=env_int("RAGLINE_INGEST_MAX_METADATA_KEY_BYTES", default.metadata_key_bytes, minimum=1, maximum=1024),
            metadata_value_bytes=env_int(
                "RAGLINE_INGEST_MAX_METADATA_VALUE_BYTES", default.metadata_value_bytes, minimum=1, maximum=65536
            ),
            access_entries=env_int(
                "RAGLINE_INGEST_MAX_ACCESS_ENTRIES", default.access_entries, minimum=1, maximum=_INDEX_ACCESS_ENTRIES
            ),
        )
