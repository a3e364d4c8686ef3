"""Validation of document events: every refusal names what is wrong and what to do."""

from __future__ import annotations

import hashlib

import pytest

from ragline.v1 import common_pb2, documents_pb2
from services.ingest.limits import Limits
from services.ingest.media_types import DOCX
from services.ingest.validation import media_type, validate

LIMITS = Limits(document_bytes=1024, title_bytes=100, uri_bytes=200, author_bytes=50, metadata_entries=3,
                metadata_key_bytes=10, metadata_value_bytes=20, access_entries=4)  # fmt: skip


def upsert_event(content: bytes = b"Hello world.", mime_type: str = "text/plain", **provenance):
    fields = {
        "document_version": 1,
        "sensitivity": common_pb2.SENSITIVITY_INTERNAL,
        "access": common_pb2.AccessList(groups=["all-staff"]),
        **provenance,
    }
    return documents_pb2.DocumentEvent(
        header=common_pb2.EventHeader(event_id="e1", tenant="acme"),
        document_id="doc-1",
        upsert=documents_pb2.DocumentUpsert(
            provenance=common_pb2.Provenance(**fields), mime_type=mime_type, content=content
        ),
    )


def test_a_complete_upsert_and_a_delete_pass():
    assert validate(upsert_event(), LIMITS) is None
    delete = documents_pb2.DocumentEvent(
        header=common_pb2.EventHeader(event_id="e2", tenant="acme"),
        document_id="doc-1",
        delete=documents_pb2.DocumentDelete(document_version=0),
    )
    assert validate(delete, LIMITS) is None


def set_access(event, users=(), groups=()):
    event.upsert.provenance.access.CopyFrom(common_pb2.AccessList(users=users, groups=groups))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda e: e.header.ClearField("tenant"), "header.tenant is empty"),
        (lambda e: e.header.ClearField("event_id"), "header.event_id is empty"),
        (lambda e: e.ClearField("document_id"), "document_id is empty"),
        (lambda e: e.ClearField("upsert"), "neither upsert nor delete is set"),
        (lambda e: setattr(e.upsert.provenance, "document_version", 0), "provenance.document_version is 0"),
        (lambda e: setattr(e.upsert.provenance, "sensitivity", 0), "provenance.sensitivity is unspecified"),
        (lambda e: setattr(e.upsert.provenance, "sensitivity", 7), "provenance.sensitivity 7 is not a known label"),
        (lambda e: set_access(e), "provenance.access names no user and no group: nobody could read"),
        (lambda e: set_access(e, users=[""], groups=[""]), "provenance.access names no user and no group"),
        (lambda e: setattr(e.upsert, "mime_type", "application/msword"), "'application/msword' is not supported"),
        (lambda e: setattr(e.upsert, "mime_type", ""), "mime_type 'empty' is not supported"),
        (lambda e: setattr(e.upsert, "mime_type", "text/" + "x" * 300), "mime_type is 305 bytes long"),
        (lambda e: setattr(e.upsert, "content", b""), "content and content_uri are both empty"),
        (lambda e: setattr(e.upsert, "content", b"x" * 1025), "content is 1025 bytes, above the limit of 1024"),
        (lambda e: setattr(e.upsert, "mime_type", "text/plain; charset=latin-1"), "charset 'latin-1' is not supported"),
        (lambda e: setattr(e.upsert.provenance, "content_hash", "ab" * 32), "is not the SHA-256 of content"),
    ],
)
def test_each_problem_is_named(change, expected):
    event = upsert_event()
    change(event)
    problem = validate(event, LIMITS)
    assert problem is not None and expected in problem


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda e: setattr(e.header, "tenant", "t" * 129), "header.tenant is 129 bytes long, above the limit of 128"),
        (lambda e: setattr(e.header, "event_id", "e" * 257), "header.event_id is 257 bytes long"),
        (lambda e: setattr(e, "document_id", "d" * 513), "document_id is 513 bytes long, above the limit of 512"),
        (lambda e: setattr(e, "document_id", "doc\n1"), "document_id 'doc\\n1' contains a control character"),
        (lambda e: setattr(e.upsert.provenance, "title", "é" * 51), "provenance.title is 102 bytes long, above the limit of 100 (RAGLINE_INGEST_MAX_TITLE_BYTES)"),
        (lambda e: setattr(e.upsert.provenance, "source_uri", "u" * 201), "provenance.source_uri is 201 bytes long, above the limit of 200"),
        (lambda e: setattr(e.upsert.provenance, "author", "a" * 51), "provenance.author is 51 bytes long, above the limit of 50"),
        (lambda e: setattr(e.upsert.provenance, "origin_system", "o" * 257), "provenance.origin_system is 257 bytes long"),
        (lambda e: e.upsert.metadata.update({str(i): "v" for i in range(4)}), "metadata has 4 entries, above the limit of 3"),
        (lambda e: e.upsert.metadata.update({"k" * 11: "v"}), "is 11 bytes long, above the limit of 10 (RAGLINE_INGEST_MAX_METADATA_KEY_BYTES)"),
        (lambda e: e.upsert.metadata.update({"space": "v" * 21}), "metadata value of 'space' is 21 bytes long"),
        (lambda e: e.upsert.metadata.update({"": "v"}), "metadata has an entry with an empty key"),
        (lambda e: set_access(e, users=[f"u{i}" for i in range(5)]), "provenance.access.users has 5 entries, above the limit of 4"),
        (lambda e: set_access(e, groups=["g" * 257]), "an entry of provenance.access.groups is 257 bytes long"),
        (lambda e: set_access(e, groups=["ops\x00"]), "of provenance.access.groups contains a control character"),
    ],
)
def test_absurd_field_sizes_are_refused_with_the_limit_they_broke(change, expected):
    event = upsert_event()
    change(event)
    problem = validate(event, LIMITS)
    assert problem is not None and expected in problem


@pytest.mark.parametrize(
    ("content", "mime_type", "expected"),
    [
        (b"%PDF-1.7\n1 0 obj", "text/plain", "content declared as text/plain is a PDF document (it starts with %PDF-): set mime_type to 'application/pdf'"),
        (b"PK\x03\x04\x14\x00", "text/markdown", f"is a ZIP package (such as a DOCX) (it starts with b'PK\\x03\\x04'): set mime_type to '{DOCX}'"),
        (b"\n<!DOCTYPE html><html><body>hi</body></html>", "text/markdown", "is an HTML document (it starts with <!doctype html): set mime_type to 'text/html'"),
        (b"<HTML><p>hi</p></HTML>", "text/plain", "content declared as text/plain is an HTML document"),
        (b"<html><body>Sign in</body></html>", "application/pdf", "content declared as application/pdf is an HTML document"),
        (b"Just some words.", "application/pdf", "has no %PDF- header in its first 1024 bytes"),
        (b"%PDF-1.4\n", DOCX, "content declared as DOCX is a PDF document (it starts with %PDF-)"),
        (b"Just some words.", DOCX, "is not a ZIP package, which every DOCX is"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", DOCX, "is a legacy Office file (.doc, .xls)"),
        (b"\x89PNG\r\n\x1a\n\x00", "text/html", "content declared as text/html is a PNG image"),
        (b"\xff\xd8\xff\xe0", "text/plain", "is a JPEG image (it starts with b'\\xff\\xd8\\xff'): publish the document in a supported format"),
    ],
)
def test_content_that_is_not_what_its_mime_type_says_is_refused(content, mime_type, expected):
    problem = validate(upsert_event(content, mime_type), LIMITS)
    assert problem is not None and expected in problem


@pytest.mark.parametrize(
    ("content", "mime_type"),
    [
        (b"<p>A fragment is HTML too.</p>", "text/html"),
        (b"<!doctype html><title>x</title><p>page</p>", "text/html; charset=utf-8"),
        (b"# Notes\n\n<details>inline HTML in Markdown</details>\n", "text/markdown"),
        (b"junk before the header %PDF-1.4\n", "application/pdf"),
        (b"PK\x03\x04rest of a package", DOCX),
        (b"Plain words that mention %PDF- and <html> later on.", "text/plain"),
    ],
)
def test_content_that_matches_its_mime_type_passes(content, mime_type):
    assert validate(upsert_event(content, mime_type), LIMITS) is None


def with_uri(uri: str, content: bytes = b""):
    event = upsert_event(content)
    event.upsert.content_uri = uri
    return event


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (with_uri("file:///srv/docs/a.txt", b"inline too"), "both content and content_uri are set"),
        (with_uri("ftp://files.example/a.txt"), "has scheme 'ftp': use file://, http:// or https://"),
        (with_uri("/srv/docs/a.txt"), "has scheme 'none'"),
        (with_uri("file://fileserver/share/a.txt"), "names host 'fileserver': file:// references are read on the ingest host only"),
        (with_uri("https:///a.txt"), "has no host"),
        (with_uri("http://[::1/a"), "is not a valid URI"),
        (with_uri("https://docs.example/" + "a" * 200), "content_uri is 221 bytes long, above the limit of 200"),
    ],
)
def test_a_bad_content_uri_is_refused(event, expected):
    problem = validate(event, LIMITS)
    assert problem is not None and expected in problem


def test_a_content_uri_passes_without_reading_it():
    assert validate(with_uri("https://docs.example/a.txt"), LIMITS) is None
    assert validate(with_uri("file:///srv/docs/a.txt"), LIMITS) is None
    assert validate(with_uri("file://localhost/srv/docs/a.txt"), LIMITS) is None


def test_invalid_utf8_is_refused_with_the_offending_byte():
    problem = validate(upsert_event("café".encode("latin-1"), "text/markdown"), LIMITS)
    assert problem == "content is not valid UTF-8 (byte 0xe9 at offset 3): re-encode the document as UTF-8"


def test_pdf_bytes_are_not_checked_as_text():
    assert validate(upsert_event(b"%PDF-1.4\n\xe2\xe3\xcf\xd3", "application/pdf"), LIMITS) is None


def test_a_negative_delete_version_is_refused():
    event = documents_pb2.DocumentEvent(
        header=common_pb2.EventHeader(event_id="e", tenant="acme"),
        document_id="d",
        delete=documents_pb2.DocumentDelete(document_version=-1),
    )
    assert "delete.document_version is -1" in validate(event, LIMITS)


def test_a_matching_content_hash_passes_in_any_case():
    content = b"Hello world."
    digest = hashlib.sha256(content).hexdigest().upper()
    assert validate(upsert_event(content, content_hash=digest), LIMITS) is None


def test_media_type_parameters():
    assert media_type("Text/HTML; charset=\"UTF-8\"") == ("text/html", "utf-8")
    assert media_type("text/markdown") == ("text/markdown", "")
    assert validate(upsert_event(mime_type="text/html; charset=utf-8"), LIMITS) is None


def test_limits_come_from_the_environment_within_what_the_index_stores(monkeypatch):
    from ragline.config import ConfigError

    monkeypatch.setenv("RAGLINE_INGEST_MAX_TITLE_BYTES", "300")
    monkeypatch.setenv("RAGLINE_INGEST_MAX_METADATA_ENTRIES", "8")
    limits = Limits.from_env()
    assert (limits.title_bytes, limits.metadata_entries, limits.author_bytes) == (300, 8, Limits().author_bytes)
    monkeypatch.setenv("RAGLINE_INGEST_MAX_TITLE_BYTES", "4096")
    with pytest.raises(ConfigError, match="RAGLINE_INGEST_MAX_TITLE_BYTES=4096 is above the maximum 2048"):
        Limits.from_env()
