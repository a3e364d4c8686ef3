"""Checks a document event before any work is done on it.

The same checks run on events consumed from Kafka (a failure is a dead letter)
and on events submitted through the Ingest RPC (a failure is INVALID_ARGUMENT),
so a bad event is refused at the door rather than discovered downstream.
"""

from __future__ import annotations

import hashlib

from ragline.v1 import common_pb2, documents_pb2

TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/html"})
SUPPORTED_TYPES = TEXT_TYPES | {"application/pdf"}
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


def validate(event: documents_pb2.DocumentEvent, max_document_bytes: int) -> str | None:
    """Why the event cannot be ingested, in words the publisher can act on; None if it can."""
    if not event.header.tenant:
        return "header.tenant is empty: set the tenant the document belongs to"
    if not event.header.event_id:
        return "header.event_id is empty: give every event a unique id"
    if not event.document_id:
        return "document_id is empty: set the document's stable id within its tenant"
    change = event.WhichOneof("change")
    if change is None:
        return "neither upsert nor delete is set: an event must carry exactly one change"
    if change == "delete":
        if event.delete.document_version < 0:
            version = event.delete.document_version
            return f"delete.document_version is {version}: use 0 (all versions) or a positive version"
        return None
    return _validate_upsert(event.upsert, max_document_bytes)


def _validate_upsert(upsert: documents_pb2.DocumentUpsert, max_document_bytes: int) -> str | None:
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
    kind, charset = media_type(upsert.mime_type)
    if kind not in SUPPORTED_TYPES:
        shown = upsert.mime_type or "empty"
        return f"mime_type {shown!r} is not supported: use one of {', '.join(sorted(SUPPORTED_TYPES))}"
    if not upsert.content:
        return "content is empty: publish a delete to remove a document"
    size = len(upsert.content)
    if size > max_document_bytes:
        return (
            f"content is {size} bytes, above the limit of {max_document_bytes} "
            "(RAGLINE_INGEST_MAX_DOCUMENT_BYTES): split the document or raise the limit"
        )
    if kind in TEXT_TYPES:
        if charset and charset not in _UTF8_CHARSETS:
            return f"charset {charset!r} is not supported: re-encode the document as UTF-8"
        try:
            upsert.content.decode("utf-8")
        except UnicodeDecodeError as error:
            return (
                f"content is not valid UTF-8 (byte 0x{upsert.content[error.start]:02x} at offset {error.start}): "
                "re-encode the document as UTF-8"
            )
    if provenance.content_hash:
        actual = hashlib.sha256(upsert.content).hexdigest()
        if provenance.content_hash.lower() != actual:
            return (
                f"provenance.content_hash {provenance.content_hash!r} is not the SHA-256 of content ({actual}): "
                "send the hex SHA-256 of the raw bytes, or leave it empty for ingest to compute"
            )
    return None
