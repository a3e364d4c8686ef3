"""DOCX (Word), read with python-docx.

Headings come from the paragraph style (Title, Heading 1–9, and styles based
on them) or an explicit outline level; numbered and bulleted paragraphs form
one list block per run of items; each table is one block of rows. Body text
only: headers, footers, footnotes, comments and text boxes are not content.
"""

from __future__ import annotations

import io
import re
import zipfile

import docx
from docx.document import Document
from docx.oxml.ns import qn
from docx.styles.style import BaseStyle
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

from services.ingest.parsing.blocks import Block, BlockKind, HeadingPath, UnparsableDocument

# XML that python-docx would parse into memory; a small file that expands past this
# is a decompression bomb, not a document.
MAX_XML_BYTES = 128 * 1024 * 1024
_HEADING_STYLE = re.compile(r"heading (\d)$", re.IGNORECASE)
_TRAILING_LEVEL = re.compile(r"(\d)$")
# w:outlineLvl 9 means body text.
_BODY_OUTLINE_LEVEL = 9


def parse_docx(content: bytes) -> list[Block]:
    document = _open(content)
    walker = _Walker(_ListFormats(document))
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            walker.table(item)
        else:
            walker.paragraph(item)
    return walker.finish()


def _open(content: bytes) -> Document:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as package:
            expanded = sum(info.file_size for info in package.infolist() if info.filename.endswith((".xml", ".rels")))
    except zipfile.BadZipFile as error:
        raise UnparsableDocument(f"the DOCX is not a readable ZIP package: {error}") from None
    if expanded > MAX_XML_BYTES:
        raise UnparsableDocument(
            f"the DOCX's XML expands to {expanded} bytes, above {MAX_XML_BYTES}: it is not read (decompression bomb)"
        )
    try:
        return docx.Document(io.BytesIO(content))
    except MemoryError:
        raise
    except Exception as error:  # noqa: BLE001 - python-docx and lxml raise many types for broken files
        raise UnparsableDocument(f"the DOCX cannot be opened as a Word document: {type(error).__name__}: {error}") from None


class _ListFormats:
    """Whether a numbered paragraph is a bullet or a numbered item, from the numbering definitions."""

    def __init__(self, document: Document):
        self._formats: dict[tuple[str, int], str] = {}
        root = _numbering_root(document)
        if root is None:
            return
        abstract_formats: dict[str, dict[int, str]] = {}
        for abstract in root.findall(qn("w:abstractNum")):
            levels = abstract_formats.setdefault(abstract.get(qn("w:abstractNumId")), {})
            for level in abstract.findall(qn("w:lvl")):
                number_format = level.find(qn("w:numFmt"))
                if number_format is not None:
                    levels[int(level.get(qn("w:ilvl"), "0"))] = number_format.get(qn("w:val"), "")
        for num in root.findall(qn("w:num")):
            reference = num.find(qn("w:abstractNumId"))
            if reference is None:
                continue
            for level, number_format in abstract_formats.get(reference.get(qn("w:val")), {}).items():
                self._formats[(num.get(qn("w:numId")), level)] = number_format

    def is_numbered(self, num_id: str, level: int) -> bool:
        return self._formats.get((num_id, level), "bullet") not in ("bullet", "none")


def _numbering_root(document: Document):
    """The numbering part's XML, or None when the document has no numbering definitions."""
    for relationship in document.part.rels.values():
        if relationship.reltype.endswith("/numbering") and not relationship.is_external:
            return relationship.target_part.element
    return None


class _Walker:
    def __init__(self, formats: _ListFormats):
        self._formats = formats
        self._headings = HeadingPath()
        self._blocks: list[Block] = []
        self._list_lines: list[str] = []
        # Item numbers per nesting level of the list being read.
        self._counters: list[int] = []

    def paragraph(self, paragraph: Paragraph) -> None:
        text = "\n".join(_collapse(line) for line in paragraph.text.split("\n") if line.strip())
        level = _heading_level(paragraph)
        if level is not None:
            self._end_list()
            self._headings.enter(level, text.replace("\n", " "))
            return
        item = _list_item(paragraph)
        if item is None:
            self._end_list()
            if text:
                self._blocks.append(Block(self._headings.current, text, BlockKind.PARAGRAPH))
            return
        if text:
            self._add_item(text, *item)

    def table(self, table: Table) -> None:
        self._end_list()
        text = _table_text(table)
        if text:
            self._blocks.append(Block(self._headings.current, text, BlockKind.TABLE))

    def finish(self) -> list[Block]:
        self._end_list()
        return self._blocks

    def _add_item(self, text: str, num_id: str, depth: int, numbered_style: bool) -> None:
        del self._counters[depth + 1 :]
        while len(self._counters) <= depth:
            self._counters.append(0)
        self._counters[depth] += 1
        numbered = numbered_style or (bool(num_id) and self._formats.is_numbered(num_id, depth))
        marker = f"{self._counters[depth]}." if numbered else "-"
        self._list_lines.append(f"{'  ' * depth}{marker} {text.replace(chr(10), ' ')}")

    def _end_list(self) -> None:
        if self._list_lines:
            self._blocks.append(Block(self._headings.current, "\n".join(self._list_lines), BlockKind.LIST))
        self._list_lines = []
        self._counters = []


def _styles(paragraph: Paragraph) -> list[BaseStyle]:
    """The paragraph's style and the styles it is based on, nearest first."""
    chain: list[BaseStyle] = []
    style = paragraph.style
    while style is not None and style not in chain:
        chain.append(style)
        style = style.base_style
    return chain


def _heading_level(paragraph: Paragraph) -> int | None:
    """1–9 for a heading, 0 for the document title, None for anything else."""
    outline = _value(paragraph._p.pPr, "w:outlineLvl")
    if outline is not None and outline.isdigit():
        return None if int(outline) >= _BODY_OUTLINE_LEVEL else int(outline) + 1
    for style in _styles(paragraph):
        name = style.name or ""
        if name.lower() == "title":
            return 0
        match = _HEADING_STYLE.match(name)
        if match:
            return int(match.group(1))
        outline = _value(style.element.pPr, "w:outlineLvl")
        if outline is not None and outline.isdigit() and int(outline) < _BODY_OUTLINE_LEVEL:
            return int(outline) + 1
    return None


def _list_item(paragraph: Paragraph) -> tuple[str, int, bool] | None:
    """(numbering id, nesting depth from 0, numbered by its style name) of a list paragraph, or None."""
    styles = _styles(paragraph)
    numbering = _numbering(paragraph._p.pPr)
    for style in styles:
        numbering = numbering or _numbering(style.element.pPr)
    list_style = next((style.name for style in styles if (style.name or "").lower().startswith(("list bullet", "list number"))), "")
    if numbering is None and not list_style:
        return None
    num_id, depth = numbering or ("", -1)
    if num_id == "0":
        return None  # numbering explicitly switched off
    if depth < 0:
        trailing = _TRAILING_LEVEL.search(list_style)
        depth = int(trailing.group(1)) - 1 if trailing else 0
    return num_id, depth, "number" in list_style.lower()


def _numbering(properties) -> tuple[str, int] | None:
    """(numId, ilvl) of a w:pPr's w:numPr; ilvl is -1 when not given."""
    numbering = properties.find(qn("w:numPr")) if properties is not None else None
    if numbering is None:
        return None
    level = _value(numbering, "w:ilvl") or ""
    return _value(numbering, "w:numId") or "", int(level) if level.isdigit() else -1


def _value(properties, name: str) -> str | None:
    """w:val of the child `name` of a properties element (w:pPr, w:numPr), or None."""
    if properties is None:
        return None
    child = properties.find(qn(name))
    return child.get(qn("w:val")) if child is not None else None


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _cell_text(cell: _Cell) -> str:
    parts = []
    for item in cell.iter_inner_content():
        if isinstance(item, Table):
            parts.append("; ".join(_table_text(item).split("\n")))
        else:
            parts.append(_collapse(item.text))
    return _collapse(" ".join(part for part in parts if part))


def _table_text(table: Table) -> str:
    """One line per row, cells joined by " | "; a cell merged across columns counts once."""
    lines = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if previous is not None and cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(_cell_text(cell))
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)
