"""Validation of document events: every refusal names what is wrong and what to do."""

from __future__ import annotations

import hashlib

import pytest

from ragline.v1 import common_pb2, documents_pb2
from services.ingest.validation import media_type, validate

LIMIT = 1024


def upsert_event(content: bytes = b"Hello world.", mime_type: str = "text/plain", **provenance):
    fields = {"document_version": 1, "sensitivity": common_pb2.SENSITIVITY_INTERNAL, **provenance}
    return documents_pb2.DocumentEvent(
        header=common_pb2.EventHeader(event_id="e1", tenant="acme"),
        document_id="doc-1",
        upsert=documents_pb2.DocumentUpsert(
            provenance=common_pb2.Provenance(**fields), mime_type=mime_type, content=content
        ),
    )


def test_a_complete_upsert_and_a_delete_pass():
    assert validate(upsert_event(), LIMIT) is None
    delete = documents_pb2.DocumentEvent(
        header=common_pb2.EventHeader(event_id="e2", tenant="acme"),
        document_id="doc-1",
        delete=documents_pb2.DocumentDelete(document_version=0),
    )
    assert validate(delete, LIMIT) is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda e: e.header.ClearField("tenant"), "header.tenant is empty"),
        (lambda e: e.header.ClearField("event_id"), "header.event_id is empty"),
        (lambda e: e.ClearField("document_id"), "document_id is empty"),
        (lambda e: e.ClearField("upsert"), "neither upsert nor delete is set"),
        (lambda e: setattr(e.upsert.provenance, "document_version", 0), "provenance.document_version is 0"),
        (lambda e: setattr(e.upsert.provenance, "sensitivity", 0), "provenance.sensitivity is unspecified"),
        (lambda e: setattr(e.upsert, "mime_type", "application/msword"), "'application/msword' is not supported"),
        (lambda e: setattr(e.upsert, "mime_type", ""), "mime_type 'empty' is not supported"),
        (lambda e: setattr(e.upsert, "content", b""), "content is empty: publish a delete"),
        (lambda e: setattr(e.upsert, "content", b"x" * (LIMIT + 1)), f"{LIMIT + 1} bytes, above the limit of {LIMIT}"),
        (lambda e: setattr(e.upsert, "mime_type", "text/plain; charset=latin-1"), "charset 'latin-1' is not supported"),
        (lambda e: setattr(e.upsert.provenance, "content_hash", "ab" * 32), "is not the SHA-256 of content"),
    ],
)
def test_each_problem_is_named(change, expected):
    event = upsert_event()
    change(event)
    problem = validate(event, LIMIT)
    assert problem is not None and expected in problem


def test_invalid_utf8_is_refused_with_the_offending_byte():
    problem = validate(upsert_event("café".encode("latin-1"), "text/markdown"), LIMIT)
    assert problem == "content is not valid UTF-8 (byte 0xe9 at offset 3): re-encode the document as UTF-8"


def test_pdf_bytes_are_not_checked_as_text():
    assert validate(upsert_event(b"%PDF-1.4\n\xe2\xe3\xcf\xd3", "application/pdf"), LIMIT) is None


def test_a_negative_delete_version_is_refused():
    event = documents_pb2.DocumentEvent(
        header=common_pb2.EventHeader(event_id="e", tenant="acme"),
        document_id="d",
        delete=documents_pb2.DocumentDelete(document_version=-1),
    )
    assert "delete.document_version is -1" in validate(event, LIMIT)


def test_a_matching_content_hash_passes_in_any_case():
    content = b"Hello world."
    digest = hashlib.sha256(content).hexdigest().upper()
    assert validate(upsert_event(content, content_hash=digest), LIMIT) is None


def test_media_type_parameters():
    assert media_type("Text/HTML; charset=\"UTF-8\"") == ("text/html", "utf-8")
    assert media_type("text/markdown") == ("text/markdown", "")
    assert validate(upsert_event(mime_type="text/html; charset=utf-8"), LIMIT) is None
