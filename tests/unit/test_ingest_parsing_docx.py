"""DOCX: headings from paragraph styles and outline levels, lists from numbering, tables whole."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn

from services.ingest.media_types import DOCX
from services.ingest.parsing import BlockKind, UnparsableDocument, parse
from services.ingest.parsing import docx as docx_parser

P, L, T = BlockKind.PARAGRAPH, BlockKind.LIST, BlockKind.TABLE


def saved(document: docx.document.Document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def shape(content: bytes) -> list[tuple[tuple[str, ...], BlockKind, str]]:
    return [(block.heading_path, block.kind, block.text) for block in parse(DOCX, content)]


def test_heading_styles_build_the_path_and_the_title_is_outermost():
    document = docx.Document()
    document.add_paragraph("Before any heading.")
    document.add_heading("Handbook", level=0)
    document.add_heading("Travel", level=1)
    document.add_paragraph("Book   trains\tfirst.")
    document.add_heading("Hotels", level=2)
    document.add_paragraph("")
    document.add_paragraph("At most 160 EUR.")
    document.add_heading("Leave", level=1)
    document.add_paragraph("28 days.")
    assert shape(saved(document)) == [
        ((), P, "Before any heading."),
        (("Handbook", "Travel"), P, "Book trains first."),
        (("Handbook", "Travel", "Hotels"), P, "At most 160 EUR."),
        (("Handbook", "Leave"), P, "28 days."),
    ]


def test_a_custom_style_based_on_a_heading_and_an_outline_level_are_headings():
    document = docx.Document()
    custom = document.styles.add_style("Policy Section", WD_STYLE_TYPE.PARAGRAPH)
    custom.base_style = document.styles["Heading 1"]
    document.add_paragraph("Security", style="Policy Section")
    outlined = document.add_paragraph("VPN")
    level = OxmlElement("w:outlineLvl")
    level.set(qn("w:val"), "1")
    outlined._p.get_or_add_pPr().append(level)
    document.add_paragraph("Sessions expire after 12 hours.")
    assert shape(saved(document)) == [(("Security", "VPN"), P, "Sessions expire after 12 hours.")]


def test_consecutive_list_paragraphs_form_one_block_with_nesting_and_numbers():
    document = docx.Document()
    document.add_heading("Checklist", level=1)
    document.add_paragraph("Laptop", style="List Bullet")
    document.add_paragraph("Charger", style="List Bullet 2")
    document.add_paragraph("Badge", style="List Bullet")
    document.add_paragraph("Then:")
    document.add_paragraph("Sign in", style="List Number")
    document.add_paragraph("Change the password", style="List Number")
    assert shape(saved(document)) == [
        (("Checklist",), L, "- Laptop\n  - Charger\n- Badge"),
        (("Checklist",), P, "Then:"),
        (("Checklist",), L, "1. Sign in\n2. Change the password"),
    ]


def test_numbering_set_on_the_paragraph_decides_between_numbers_and_bullets():
    document = docx.Document()
    # The default template's "List Number" style points at a decimal numbering definition;
    # its numId, set directly on a plain paragraph, makes that paragraph a numbered item.
    number_style = document.styles["List Number"].element.pPr.find(qn("w:numPr")).find(qn("w:numId")).get(qn("w:val"))
    for text in ("First", "Second"):
        paragraph = document.add_paragraph(text, style="List Paragraph")
        numbering = paragraph._p.get_or_add_pPr().get_or_add_numPr()
        numbering.get_or_add_numId().val = int(number_style)
        numbering.get_or_add_ilvl().val = 0
    assert shape(saved(document)) == [((), L, "1. First\n2. Second")]


def test_a_table_is_one_block_of_rows_with_merged_cells_once_and_nested_tables_inline():
    document = docx.Document()
    document.add_heading("Rates", level=1)
    table = document.add_table(rows=3, cols=3)
    for row, values in zip(table.rows, [("City", "Cap", ""), ("Paris", "220 EUR", "per night"), ("", "", "")]):
        for cell, value in zip(row.cells, values):
            cell.text = value
    table.cell(0, 1).merge(table.cell(0, 2))
    nested = table.cell(2, 0).add_table(rows=1, cols=2)
    nested.cell(0, 0).text, nested.cell(0, 1).text = "Other", "160 EUR"
    assert shape(saved(document)) == [
        (("Rates",), T, "City | Cap\nParis | 220 EUR | per night\nOther | 160 EUR |  | "),
    ]


def test_the_sample_docx_reads_as_its_author_structured_it():
    from samples.make_docx import build_docx

    blocks = shape(build_docx())
    assert [kind for _, kind, _ in blocks] == [P, P, L, P, T, L]
    assert blocks[4][0] == ("Warehouse Safety Procedures", "2. Protective equipment")
    assert blocks[4][2].count("\n") == 3


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"PK\x03\x04 cut short", "the DOCX is not a readable ZIP package"),
        (None, "the DOCX cannot be opened as a Word document"),
    ],
)
def test_a_broken_docx_is_unparsable_with_the_reason(content, reason):
    if content is None:  # a valid ZIP package that holds no Word document
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as package:
            package.writestr("hello.txt", "not a document")
        content = buffer.getvalue()
    with pytest.raises(UnparsableDocument, match=reason):
        parse(DOCX, content)


def test_a_decompression_bomb_is_refused_before_it_is_expanded(monkeypatch):
    monkeypatch.setattr(docx_parser, "MAX_XML_BYTES", 1 << 20)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("word/document.xml", b" " * (2 << 20))
    assert len(buffer.getvalue()) < 10_000
    with pytest.raises(UnparsableDocument, match=r"the DOCX's XML expands to 2097152 bytes, above 1048576"):
        parse(DOCX, buffer.getvalue())
