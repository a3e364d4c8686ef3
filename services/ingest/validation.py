"""Checks a document event before any work is done on it.

The same checks run on events consumed from Kafka (a failure is a dead letter)
and on events submitted through the Ingest RPC (a failure is INVALID_ARGUMENT),
so a bad event is refused at the door rather than discovered downstream.
Content fetched from a `content_uri` gets the content checks once it is read.
"""

from __future__ import annotations

import hashlib
import unicodedata
from urllib.parse import urlsplit

from ragline.v1 import common_pb2, documents_pb2
from services.ingest.limits import (
    ACCESS_ENTRY_BYTES,
    DOCUMENT_ID_BYTES,
    EVENT_ID_BYTES,
    MIME_TYPE_BYTES,
    ORIGIN_SYSTEM_BYTES,
    TENANT_BYTES,
    Limits,
)
from services.ingest.media_types import SUPPORTED_TYPES, TEXT_TYPES
from services.ingest.sniffing import declared_type_problem

URI_SCHEMES = frozenset({"file", "http", "https"})
_UTF8_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


def media_type(mime_type: str) -> tuple[str, str]:
    """("text/html", "utf-8") from "text/html; charset=UTF-8"; charset is "" when absent."""
    kind, *parameters = mime_type.split(";")
    charset = ""
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return kind.strip().lower(), charset


def validate(event: documents_pb2.DocumentEvent, limits: Limits) -> str | None:
    """Why the event cannot be ingested, in words the publisher can act on; None if it can."""
    header = event.header
    problem = (
        _identifier("header.tenant", header.tenant, TENANT_BYTES, "set the tenant the document belongs to")
        or _identifier("header.event_id", header.event_id, EVENT_ID_BYTES, "give every event a unique id")
        or _identifier("document_id", event.document_id, DOCUMENT_ID_BYTES, "set the document's stable id within its tenant")
    )
    if problem:
        return problem
    change = event.WhichOneof("change")
    if change is None:
        return "neither upsert nor delete is set: an event must carry exactly one change"
    if change == "delete":
        if event.delete.document_version < 0:
            version = event.delete.document_version
            return f"delete.document_version is {version}: use 0 (all versions) or a positive version"
        return None
    return _validate_upsert(event.upsert, limits)


def check_content(upsert: documents_pb2.DocumentUpsert, content: bytes, limits: Limits) -> str | None:
    """Why the document's bytes (inline or fetched) cannot be ingested as declared, or None."""
    kind, charset = media_type(upsert.mime_type)
    if not content:
        return "content is empty: publish a delete to remove a document"
    if len(content) > limits.document_bytes:
        return (
            f"content is {len(content)} bytes, above the limit of {limits.document_bytes} "
            "(RAGLINE_INGEST_MAX_DOCUMENT_BYTES): split the document or raise the limit"
        )
    problem = declared_type_problem(kind, content)
    if problem:
        return problem
    if kind in TEXT_TYPES:
        if charset and charset not in _UTF8_CHARSETS:
            return f"charset {charset!r} is not supported: re-encode the document as UTF-8"
        try:
            content.decode("utf-8")
        except UnicodeDecodeError as error:
            return (
                f"content is not valid UTF-8 (byte 0x{content[error.start]:02x} at offset {error.start}): "
                "re-encode the document as UTF-8"
            )
    content_hash = upsert.provenance.content_hash
    if content_hash:
        actual = hashlib.sha256(content).hexdigest()
        if content_hash.lower() != actual:
            return (
                f"provenance.content_hash {content_hash[:80]!r} is not the SHA-256 of content ({actual}): "
                "send the hex SHA-256 of the raw bytes, or leave it empty for ingest to compute"
            )
    return None


def _validate_upsert(upsert: documents_pb2.DocumentUpsert, limits: Limits) -> str | None:
    provenance = upsert.provenance
    if provenance.document_version <= 0:
        return (
            f"provenance.document_version is {provenance.document_version}: "
            "versions start at 1 and must grow with every change"
        )
    # An unlabelled document would compare as below every clearance, i.e. readable
    # by anyone: sensitivity is never implied.
    if provenance.sensitivity == common_pb2.SENSITIVITY_UNSPECIFIED:
        return "provenance.sensitivity is unspecified: label the document public, internal, confidential or restricted"
    if provenance.sensitivity not in common_pb2.Sensitivity.values():
        return f"provenance.sensitivity {provenance.sensitivity} is not a known label: use public, internal, confidential or restricted"
    problem = _access_problem(provenance.access, limits) or _provenance_sizes(provenance, limits) or _metadata_problem(upsert, limits)
    if problem:
        return problem
    if len(upsert.mime_type.encode()) > MIME_TYPE_BYTES:
        return f"mime_type is {len(upsert.mime_type.encode())} bytes long: use one of {', '.join(sorted(SUPPORTED_TYPES))}"
    kind, _ = media_type(upsert.mime_type)
    if kind not in SUPPORTED_TYPES:
        shown = upsert.mime_type or "empty"
        return f"mime_type {shown!r} is not supported: use one of {', '.join(sorted(SUPPORTED_TYPES))}"
    if upsert.content and upsert.content_uri:
        return "both content and content_uri are set: send the bytes inline or a reference to them, not both"
    if not upsert.content and not upsert.content_uri:
        return "content and content_uri are both empty: send the document's bytes or a reference to them (a delete removes a document)"
    if upsert.content_uri:
        return _content_uri_problem(upsert.content_uri, limits)
    return check_content(upsert, upsert.content, limits)


def _identifier(name: str, value: str, max_bytes: int, advice: str) -> str | None:
    if not value:
        return f"{name} is empty: {advice}"
    size = len(value.encode())
    if size > max_bytes:
        return f"{name} is {size} bytes long, above the limit of {max_bytes}: use a shorter id"
    if _has_control_character(value):
        return f"{name} {value[:80]!r} contains a control character: ids are printable text"
    return None


def _has_control_character(value: str) -> bool:
    return any(unicodedata.category(character) == "Cc" for character in value)


def _access_problem(access: common_pb2.AccessList, limits: Limits) -> str | None:
    # Nobody could ever read a document with an empty access list: that is a publisher's mistake.
    if not any(access.users) and not any(access.groups):
        return "provenance.access names no user and no group: nobody could read the document"
    for name, entries in (("provenance.access.users", access.users), ("provenance.access.groups", access.groups)):
        if len(entries) > limits.access_entries:
            return (
                f"{name} has {len(entries)} entries, above the limit of {limits.access_entries} "
                "(RAGLINE_INGEST_MAX_ACCESS_ENTRIES): grant groups instead of long lists"
            )
        for entry in entries:
            if len(entry.encode()) > ACCESS_ENTRY_BYTES:
                return f"an entry of {name} is {len(entry.encode())} bytes long, above the limit of {ACCESS_ENTRY_BYTES}"
            if _has_control_character(entry):
                return f"the entry {entry[:80]!r} of {name} contains a control character"
    return None


def _provenance_sizes(provenance: common_pb2.Provenance, limits: Limits) -> str | None:
    fields = (
        ("title", provenance.title, limits.title_bytes, "RAGLINE_INGEST_MAX_TITLE_BYTES"),
        ("source_uri", provenance.source_uri, limits.uri_bytes, "RAGLINE_INGEST_MAX_URI_BYTES"),
        ("author", provenance.author, limits.author_bytes, "RAGLINE_INGEST_MAX_AUTHOR_BYTES"),
        ("origin_system", provenance.origin_system, ORIGIN_SYSTEM_BYTES, "the index's limit"),
    )
    for name, value, limit, setting in fields:
        size = len(value.encode())
        if size > limit:
            return f"provenance.{name} is {size} bytes long, above the limit of {limit} ({setting})"
    return None


def _metadata_problem(upsert: documents_pb2.DocumentUpsert, limits: Limits) -> str | None:
    metadata = upsert.metadata
    if len(metadata) > limits.metadata_entries:
        return (
            f"metadata has {len(metadata)} entries, above the limit of {limits.metadata_entries} "
            "(RAGLINE_INGEST_MAX_METADATA_ENTRIES): every entry is copied onto every chunk"
        )
    for key, value in metadata.items():
        if not key:
            return "metadata has an entry with an empty key"
        if len(key.encode()) > limits.metadata_key_bytes:
            return (
                f"metadata key {key[:40]!r}... is {len(key.encode())} bytes long, above the limit of "
                f"{limits.metadata_key_bytes} (RAGLINE_INGEST_MAX_METADATA_KEY_BYTES)"
            )
        if len(value.encode()) > limits.metadata_value_bytes:
            return (
                f"metadata value of {key!r} is {len(value.encode())} bytes long, above the limit of "
                f"{limits.metadata_value_bytes} (RAGLINE_INGEST_MAX_METADATA_VALUE_BYTES)"
            )
    return None


def _content_uri_problem(uri: str, limits: Limits) -> str | None:
    size = len(uri.encode())
    if size > limits.uri_bytes:
        return f"content_uri is {size} bytes long, above the limit of {limits.uri_bytes} (RAGLINE_INGEST_MAX_URI_BYTES)"
    try:
        parts = urlsplit(uri)
    except ValueError as error:
        return f"content_uri {uri[:200]!r} is not a valid URI ({error})"
    if parts.scheme.lower() not in URI_SCHEMES:
        return f"content_uri {uri[:200]!r} has scheme {parts.scheme or 'none'!r}: use file://, http:// or https://"
    if parts.scheme.lower() == "file" and parts.netloc not in ("", "localhost"):
        return f"content_uri {uri[:200]!r} names host {parts.netloc!r}: file:// references are read on the ingest host only"
    if parts.scheme.lower() != "file" and not parts.hostname:
        return f"content_uri {uri[:200]!r} has no host"
    return None
