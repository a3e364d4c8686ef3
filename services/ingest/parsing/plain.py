"""Plain text: paragraphs separated by blank lines."""

from __future__ import annotations

import re

from services.ingest.parsing.blocks import Block, BlockKind

_LIST_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


def parse_plain_text(text: str) -> list[Block]:
    """Paragraphs separated by blank lines; a paragraph whose every line is a list item is a list."""
    blocks = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [line.rstrip() for line in paragraph.strip("\n").split("\n") if line.strip()]
        if not lines:
            continue
        kind = BlockKind.LIST if all(_LIST_LINE.match(line) for line in lines) else BlockKind.PARAGRAPH
        blocks.append(Block((), "\n".join(lines).strip(), kind))
    return blocks
