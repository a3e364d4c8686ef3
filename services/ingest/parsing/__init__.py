"""Turns a document's bytes into structured blocks of text.

A block is one paragraph, list, table or code listing, with the headings above
it. Chunking packs blocks rather than raw text, so a chunk never starts in the
middle of a table row or a list item when it can be avoided, and every chunk
knows its section.
"""

from __future__ import annotations

from services.ingest.media_types import DOCX, PDF
from services.ingest.parsing.blocks import Block, BlockKind, UnparsableDocument
from services.ingest.parsing.docx import parse_docx
from services.ingest.parsing.html import parse_html
from services.ingest.parsing.markdown import parse_markdown
from services.ingest.parsing.pdf import parse_pdf
from services.ingest.parsing.plain import parse_plain_text

__all__ = [
    "Block", "BlockKind", "UnparsableDocument",
    "parse", "parse_docx", "parse_html", "parse_markdown", "parse_pdf", "parse_plain_text",
]  # fmt: skip


def parse(media_type: str, content: bytes) -> list[Block]:
    """Blocks in document order. `media_type` is one of media_types.SUPPORTED_TYPES.

    Raises UnparsableDocument, whatever went wrong inside a parser: content that
    breaks a parser is refused with the reason, it does not crash the service."""
    try:
        return _parse(media_type, content)
    except (UnparsableDocument, MemoryError):
        raise
    except Exception as error:  # noqa: BLE001 - parsers raise many types for hostile content
        raise UnparsableDocument(f"the {media_type} content cannot be parsed: {type(error).__name__}: {error}") from error


def _parse(media_type: str, content: bytes) -> list[Block]:
    if media_type == PDF:
        return parse_pdf(content)
    if media_type == DOCX:
        return parse_docx(content)
    # utf-8-sig drops a byte-order mark; validation has already checked the encoding.
    text = content.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    if media_type == "text/markdown":
        return parse_markdown(text)
    if media_type == "text/html":
        return parse_html(text)
    return parse_plain_text(text)
