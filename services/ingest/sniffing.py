"""Checks the declared mime type against what the content's first bytes say it is.

A publisher that mislabels content (a PDF sent as text/plain, a login page
served where a PDF was expected) would otherwise get binary noise indexed, or a
parser error that hides the real mistake. Only unambiguous signatures count,
so text is never refused for looking odd.
"""

from __future__ import annotations

from services.ingest.media_types import DOCX, PDF

# PDF readers accept the header anywhere in the first 1024 bytes; text is taken
# for a PDF only when it starts with one.
_PDF_HEADER = b"%PDF-"
_PDF_HEADER_WINDOW = 1024
_HTML_WINDOW = 512

# (signature at offset 0, what the content then is, the mime type to declare or None if unsupported)
_SIGNATURES: list[tuple[bytes, str, str | None]] = [
    (b"PK\x03\x04", "a ZIP package (such as a DOCX)", DOCX),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office file (.doc, .xls)", None),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", None),
    (b"\xff\xd8\xff", "a JPEG image", None),
    (b"GIF87a", "a GIF image", None),
    (b"GIF89a", "a GIF image", None),
    (b"\x1f\x8b", "gzip-compressed data", None),
    (b"{\\rtf", "an RTF document", None),
]


def _detect(content: bytes) -> tuple[str, str | None, str] | None:
    """(what the content is, the mime type to declare, the evidence), or None when nothing is certain."""
    for signature, description, declare in _SIGNATURES:
        if content.startswith(signature):
            return description, declare, f"it starts with {signature!r}"
    if content.startswith(_PDF_HEADER):
        return "a PDF document", PDF, "it starts with %PDF-"
    start = content[:_HTML_WINDOW].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    for marker in (b"<!doctype html", b"<html"):
        if start.startswith(marker):
            return "an HTML document", "text/html", f"it starts with {marker.decode()}"
    return None


def declared_type_problem(kind: str, content: bytes) -> str | None:
    """Why `content` is not what the declared media type `kind` says, or None."""
    if kind == PDF and _PDF_HEADER in content[:_PDF_HEADER_WINDOW]:
        return None
    detected = _detect(content)
    if kind == PDF:
        what = f"is {detected[0]} ({detected[2]})" if detected else "has no %PDF- header in its first 1024 bytes"
        return f"content declared as {PDF} {what}: {_advice(detected)}"
    if kind == DOCX:
        if detected is None or detected[1] != DOCX:
            what = f"is {detected[0]} ({detected[2]})" if detected else "is not a ZIP package, which every DOCX is"
            return f"content declared as DOCX {what}: {_advice(detected)}"
        return None
    if detected is None or (kind == "text/html" and detected[1] == "text/html"):
        return None
    description, _, evidence = detected
    return f"content declared as {kind} is {description} ({evidence}): {_advice(detected)}"


def _advice(detected: tuple[str, str | None, str] | None) -> str:
    if detected is None or detected[1] is None:
        return "publish the document in a supported format with its true mime_type"
    return f"set mime_type to {detected[1]!r}"
