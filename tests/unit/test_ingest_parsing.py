"""Parsers: structure, heading paths and whole tables, on hand-written inputs and the sample corpus."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfWriter

from services.ingest.parsing import Block, BlockKind, UnparsableDocument, parse, parse_html, parse_markdown, parse_pdf

CORPUS = Path(__file__).resolve().parents[2] / "samples" / "corpus"

P, L, T, C = BlockKind.PARAGRAPH, BlockKind.LIST, BlockKind.TABLE, BlockKind.CODE


def shape(blocks: list[Block]) -> list[tuple[tuple[str, ...], BlockKind, str]]:
    return [(block.heading_path, block.kind, block.text) for block in blocks]


def test_plain_text_paragraphs_and_lists():
    text = "First paragraph\nwraps here.\n\n\n- one\n- two\n\r\nLast one.\n".replace("\r\n", "\n")
    assert shape(parse("text/plain", text.encode())) == [
        ((), P, "First paragraph\nwraps here."),
        ((), L, "- one\n- two"),
        ((), P, "Last one."),
    ]


def test_byte_order_mark_and_windows_line_ends_are_normalised():
    assert shape(parse("text/plain", "\ufeffOne\r\n\r\nTwo".encode())) == [((), P, "One"), ((), P, "Two")]


MARKDOWN = """\
Before any heading.

# Guide
Intro with **bold**, `code` and a [link](https://example.com)
on two lines.

## Install
1. Download
2. Run
   - as admin
   - twice

| Setting | Default |
|---|---|
| port | 8080 |
| mode | fast |

### Check
```sh
ragline status

ragline logs
```

## Use
> Quoted advice.

<div>Raw <b>HTML</b> block</div>

# Appendix
Last words.
"""


def test_markdown_headings_build_the_path_and_blocks_keep_their_kind():
    assert shape(parse_markdown(MARKDOWN)) == [
        ((), P, "Before any heading."),
        (("Guide",), P, "Intro with bold, code and a link on two lines."),
        (("Guide", "Install"), L, "1. Download\n2. Run\n  - as admin\n  - twice"),
        (("Guide", "Install"), T, "Setting | Default\nport | 8080\nmode | fast"),
        (("Guide", "Install", "Check"), C, "ragline status\n\nragline logs"),
        (("Guide", "Use"), P, "Quoted advice."),
        (("Guide", "Use"), P, "Raw HTML block"),
        (("Appendix",), P, "Last words."),
    ]


HTML = """<!DOCTYPE html>
<html><head><title>Ignored</title><style>p { color: red }</style></head>
<body>
<nav><a href="/">Home</a> <a href="/x">Menu item</a></nav>
<script>var token = "do-not-index";</script>
<!-- a comment -->
<h1>Security   Policy</h1>
Loose <b>intro</b> text<br>on a second line
<div><p>First   paragraph
   wraps.</p><span>Inline after it</span></div>
<h2>VPN</h2>
<ul><li>Use <em>WireGuard</em><ul><li>nested item</li></ul></li><li>Second</li></ul>
<ol start="3"><li>three</li><li>four</li></ol>
<h3>Levels</h3>
<table><caption>Access levels</caption>
<thead><tr><th>Level</th><th>Who</th></tr></thead>
<tbody><tr><td>L1</td><td>All<br>staff</td></tr><tr><td>L2</td><td>Finance</td></tr></tbody>
</table>
<h2>Commands</h2>
<pre>vpn up

  vpn status</pre>
<footer>Footer text</footer>
</body></html>"""


def test_html_drops_script_style_nav_and_builds_heading_paths():
    blocks = parse_html(HTML)
    assert shape(blocks) == [
        (("Security Policy",), P, "Loose intro text\non a second line"),
        (("Security Policy",), P, "First paragraph wraps."),
        (("Security Policy",), P, "Inline after it"),
        (("Security Policy", "VPN"), L, "- Use WireGuard\n  - nested item\n- Second"),
        (("Security Policy", "VPN"), L, "3. three\n4. four"),
        (("Security Policy", "VPN", "Levels"), T, "Access levels\nLevel | Who\nL1 | All staff\nL2 | Finance"),
        (("Security Policy", "Commands"), C, "vpn up\n\n  vpn status"),
        (("Security Policy", "Commands"), P, "Footer text"),
    ]
    text = " ".join(block.text for block in blocks)
    for dropped in ("do-not-index", "color", "Menu item", "Ignored", "a comment"):
        assert dropped not in text


def test_html_without_closing_head_keeps_its_body():
    blocks = parse_html("<html><head><title>Title</title><body><h1>Heading</h1><p>Body text.</p></body></html>")
    assert shape(blocks) == [(("Heading",), P, "Body text.")]


def test_sample_markdown_keeps_the_spec_table_whole_under_its_heading():
    blocks = parse("text/markdown", (CORPUS / "nw7-picker-spec.md").read_bytes())
    tables = [block for block in blocks if block.kind == T]
    assert len(tables) == 1
    table = tables[0]
    assert table.heading_path == ("NW-7 Picker — Product Specification", "Key specifications")
    rows = table.text.split("\n")
    assert rows[0] == "Property | Value"
    assert "Battery life | 10 hours of continuous picking on one charge" in rows
    assert len(rows) == 11
    assert any(block.heading_path[-2:] == ("Battery and charging", "Charging") for block in blocks)


def test_sample_html_table_and_nested_list():
    blocks = parse("text/html", (CORPUS / "security-vpn-policy.html").read_bytes())
    table = next(block for block in blocks if block.kind == T)
    assert table.heading_path == ("Information Security and VPN Policy", "Data classification")
    assert table.text.split("\n")[1:3] == [
        "Level | Examples | Allowed storage",
        "Public | Product brochures, published specifications | Anywhere",
    ]
    vpn_list = next(block for block in blocks if block.kind == L and "VPN profiles" in block.text)
    assert "  - a device passcode of at least 6 digits, and" in vpn_list.text.split("\n")
    assert "trackPageView" not in " ".join(block.text for block in blocks)


def test_sample_pdf_gives_text_per_page():
    blocks = parse("application/pdf", (CORPUS / "expense-policy.pdf").read_bytes())
    assert [block.page for block in blocks] == [1, 2]
    assert all(block.heading_path == () and block.kind == P for block in blocks)
    assert "160 EUR per night" in blocks[0].text
    assert "5,000 EUR per card" in blocks[1].text


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"this is not a PDF at all", "the PDF cannot be opened"),
        (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "the PDF cannot be opened"),
    ],
)
def test_a_broken_pdf_is_unparsable_with_the_reason(content, reason):
    with pytest.raises(UnparsableDocument, match=reason):
        parse_pdf(content)


def test_a_pdf_without_text_is_unparsable():
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(UnparsableDocument, match=r"no extractable text in its 1 page\(s\)"):
        parse_pdf(buffer.getvalue())
