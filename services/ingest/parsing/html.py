"""HTML, read with BeautifulSoup and the standard library's html.parser."""

from __future__ import annotations

import re
from typing import Iterator

from bs4 import BeautifulSoup, Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

from services.ingest.parsing.blocks import Block, BlockKind, HeadingPath

# Never content: code, styling, navigation, and what a browser does not show. The <head>
# itself is walked, not dropped: html.parser does not repair a missing </head>, and
# the whole body would go with it.
_DROPPED = ["script", "style", "nav", "noscript", "template", "title", "meta", "link", "base", "svg", "iframe"]
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_PARAGRAPHS = {"p", "dt", "dd", "figcaption", "address", "summary", "legend"}
_LISTS = {"ul", "ol", "menu"}
# Elements that start a new block; anything else is inline and flows into the surrounding paragraph.
_BLOCK_LEVEL = frozenset(
    _HEADINGS
    | _PARAGRAPHS
    | _LISTS
    | {"table", "pre", "div", "section", "article", "main", "aside", "header", "footer", "blockquote", "figure"}
    | {"form", "fieldset", "details", "dl", "li", "hr", "body", "html", "head", "center"}
)
_NOT_TEXT = (Comment, Declaration, Doctype, ProcessingInstruction)


def parse_html(text: str) -> list[Block]:
    soup = BeautifulSoup(text, "html.parser")
    for element in soup.find_all(_DROPPED):
        element.decompose()
    for node in soup.find_all(string=lambda string: isinstance(string, _NOT_TEXT)):
        node.extract()
    walker = _Walker()
    walker.walk(soup)
    return walker.blocks


class _Walker:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._headings = HeadingPath()

    def walk(self, container: Tag) -> None:
        # Text and inline elements between blocks form a paragraph of their own.
        loose: list[str] = []
        for child in container.children:
            if isinstance(child, NavigableString):
                loose.append(_collapse(str(child)))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name.lower()
            if name == "br":
                loose.append("\n")
                continue
            if name not in _BLOCK_LEVEL and not child.find(_BLOCK_LEVEL):
                loose.append(_text(child))
                continue
            self._add("".join(loose), BlockKind.PARAGRAPH)
            loose = []
            if name in _HEADINGS:
                self._headings.enter(int(name[1]), _text(child).replace("\n", " ").strip())
            elif name in _PARAGRAPHS:
                self._add(_text(child), BlockKind.PARAGRAPH)
            elif name in _LISTS:
                self._add("\n".join(_list_lines(child, 0)), BlockKind.LIST)
            elif name == "table":
                self._add(_table_text(child), BlockKind.TABLE)
            elif name == "pre":
                self._add(child.get_text().strip("\n"), BlockKind.CODE)
            else:
                self.walk(child)
        self._add("".join(loose), BlockKind.PARAGRAPH)

    def _add(self, text: str, kind: BlockKind) -> None:
        if kind == BlockKind.CODE:
            body = "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")
        else:
            # List lines keep their indentation: it is the nesting.
            keep = str.rstrip if kind == BlockKind.LIST else str.strip
            body = "\n".join(keep(line) for line in text.split("\n") if line.strip())
        if body:
            self.blocks.append(Block(self._headings.current, body, kind))


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _text(element: Tag) -> str:
    """Rendered text: whitespace collapsed as a browser does, <br> as a line break."""
    parts = []
    for node in element.descendants:
        if isinstance(node, Tag) and node.name == "br":
            parts.append("\n")
        elif isinstance(node, NavigableString):
            parts.append(_collapse(str(node)))
    return "".join(parts)


def _list_lines(element: Tag, depth: int) -> Iterator[str]:
    ordered = element.name == "ol"
    start = str(element.get("start", "1")).strip()
    number = int(start) if re.fullmatch(r"-?\d+", start) else 1
    for item in element.find_all("li", recursive=False):
        nested = item.find_all(list(_LISTS), recursive=False)
        for sublist in nested:
            sublist.extract()
        marker = f"{number}." if ordered else "-"
        number += 1
        text = _text(item).strip().replace("\n", " ")
        yield f"{'  ' * depth}{marker} {_collapse(text)}"
        for sublist in nested:
            yield from _list_lines(sublist, depth + 1)


def _table_text(table: Tag) -> str:
    lines = []
    caption = table.find("caption")
    if caption is not None and caption.find_parent("table") is table:
        lines.append(_collapse(_text(caption)).strip())
    for row in table.find_all("tr"):
        if row.find_parent("table") is not table:
            continue  # a nested table's row: part of the cell that holds it
        cells = [_collapse(_text(cell)).strip() for cell in row.find_all(["th", "td"], recursive=False)]
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)
