"""The media types ingest reads."""

from __future__ import annotations

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/html"})
SUPPORTED_TYPES = TEXT_TYPES | {PDF, DOCX}
