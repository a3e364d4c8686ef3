"""Markdown (CommonMark with tables), read from markdown-it-py's token stream."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

from services.ingest.parsing.blocks import Block, BlockKind, HeadingPath
from services.ingest.parsing.html import parse_html

_markdown = MarkdownIt("commonmark").enable("table")


def parse_markdown(text: str) -> list[Block]:
    tokens = _markdown.parse(text)
    headings = HeadingPath()
    blocks: list[Block] = []

    def add(body: str, kind: BlockKind) -> None:
        if body.strip():
            blocks.append(Block(headings.current, body.strip("\n"), kind))

    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type == "heading_open":
            headings.enter(int(token.tag[1:]), _inline_text(tokens[index + 1]).strip())
            index += 3
        elif token.type == "paragraph_open":
            add(_inline_text(tokens[index + 1]).strip(), BlockKind.PARAGRAPH)
            index += 3
        elif token.type in ("bullet_list_open", "ordered_list_open", "table_open"):
            end = _closing(tokens, index)
            if token.type == "table_open":
                add(_table_text(tokens[index:end]), BlockKind.TABLE)
            else:
                add(_list_text(tokens[index:end]), BlockKind.LIST)
            index = end + 1
        elif token.type in ("fence", "code_block"):
            add(token.content.rstrip(), BlockKind.CODE)
            index += 1
        elif token.type == "html_block":
            add(_html_block_text(token.content), BlockKind.PARAGRAPH)
            index += 1
        else:  # blockquotes, rules: their paragraphs come as their own tokens
            index += 1
    return blocks


def _closing(tokens: list[Token], start: int) -> int:
    closing_type = tokens[start].type.replace("_open", "_close")
    level = tokens[start].level
    for index in range(start + 1, len(tokens)):
        if tokens[index].type == closing_type and tokens[index].level == level:
            return index
    return len(tokens) - 1


def _inline_text(token: Token) -> str:
    """Plain text of an inline token: markup dropped, link and image text kept."""
    parts = []
    for child in token.children or ():
        if child.type in ("text", "code_inline", "text_special", "image"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
    return "".join(parts)


def _list_text(tokens: list[Token]) -> str:
    """One line per item, "-" or the item's number as marker, nested items indented."""
    lines: list[str] = []
    depth = 0
    marker = continuation = ""
    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
        elif token.type == "list_item_open":
            marker = f"{token.info}." if token.info else "-"
            continuation = " " * len(marker)
        elif token.type in ("inline", "fence", "code_block"):
            body = _inline_text(token) if token.type == "inline" else token.content.rstrip()
            for line in body.strip().split("\n"):
                lines.append(f"{'  ' * (depth - 1)}{marker or continuation} {line}".rstrip())
                marker = ""
    return "\n".join(lines)


def _table_text(tokens: list[Token]) -> str:
    rows: list[list[str]] = []
    for token in tokens:
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and rows:
            rows[-1].append(_inline_text(token).strip())
    return "\n".join(" | ".join(row) for row in rows if any(row))


def _html_block_text(html: str) -> str:
    return "\n".join(block.text for block in parse_html(html))
