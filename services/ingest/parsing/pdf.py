"""PDF: the text pypdf extracts from each page."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader

from services.ingest.parsing.blocks import Block, BlockKind, UnparsableDocument


def parse_pdf(content: bytes) -> list[Block]:
    """One block per paragraph of each page's extracted text; PDFs carry no reliable heading structure."""
    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnparsableDocument("the PDF is password-protected: publish it without encryption")
        pages = list(reader.pages)
    except (UnparsableDocument, MemoryError):
        raise
    except Exception as error:  # noqa: BLE001 - pypdf raises many types for broken files
        raise UnparsableDocument(f"the PDF cannot be opened: {type(error).__name__}: {error}") from None
    blocks = []
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except MemoryError:
            raise
        except Exception as error:  # noqa: BLE001
            raise UnparsableDocument(f"text of PDF page {number} cannot be extracted: {error}") from None
        for paragraph in re.split(r"\n\s*\n", text.replace("\x00", "")):
            lines = [line.strip() for line in paragraph.split("\n") if line.strip()]
            if lines:
                blocks.append(Block((), "\n".join(lines), BlockKind.PARAGRAPH, page=number))
    if not blocks:
        raise UnparsableDocument(
            f"the PDF has no extractable text in its {len(pages)} page(s) "
            "(scanned pages need OCR, which ingest does not do)"
        )
    return blocks
