"""Writes samples/corpus/expense-policy.pdf: a small, valid, text-based PDF.

pypdf reads PDFs but cannot lay out text, so this writes the file by hand:
Helvetica text drawn line by line, one content stream per page, and a correct
cross-reference table. The output is byte-for-byte reproducible (no dates), so
the committed file can be checked against this script.

    .venv/bin/python samples/make_pdf.py
"""

from __future__ import annotations

import textwrap
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent / "corpus" / "expense-policy.pdf"
TITLE = "Travel and Expense Policy"
AUTHOR = "Finance Department, Northwind Robotics"

# Each page: headings ("h") and paragraphs ("p"), drawn top to bottom.
PAGES: list[list[tuple[str, str]]] = [
    [
        ("h", "NORTHWIND ROBOTICS - TRAVEL AND EXPENSE POLICY"),
        ("p", "Owner: Finance Department. Version 7, effective 1 April 2025. Confidential: for the finance "
              "team, budget holders and approvers only."),
        ("h", "1. Purpose and scope"),
        ("p", "This policy sets the limits for business travel and other expenses that Northwind Robotics "
              "reimburses, and the approvals each expense needs. It applies to all employees and to "
              "contractors whose contract refers to it."),
        ("h", "2. Meals and per diem"),
        ("p", "Meals on business travel are covered by a per diem of 45 EUR per day for travel within the "
              "Netherlands and 60 EUR per day for travel abroad. The per diem replaces individual meal "
              "receipts. Client dinners are not part of the per diem and need receipts and the names of "
              "the guests."),
        ("h", "3. Hotels"),
        ("p", "Hotel costs are reimbursed up to 160 EUR per night, including taxes. In London, Paris, Munich "
              "and New York the cap is 220 EUR per night. Book through the travel portal whenever possible; "
              "the portal applies the negotiated company rates."),
        ("h", "4. Transport"),
        ("p", "Trains are the default for journeys under 5 hours. Economy class is the rule for flights; "
              "business class needs CFO approval and is only considered for flights longer than 8 hours. "
              "Use of a private car is reimbursed at 0.23 EUR per kilometre."),
    ],
    [
        ("h", "5. Approvals"),
        ("p", "Every expense report is approved by the employee's manager. Reports above 2,000 EUR also "
              "need the approval of the Finance Director, and reports above 10,000 EUR the approval of the "
              "CFO. Approvers may not approve their own expenses or those of anyone they report to."),
        ("h", "6. Corporate cards"),
        ("p", "Corporate cards are issued to employees who travel more than four times a year. The monthly "
              "limit is 5,000 EUR per card. Cash withdrawals with the corporate card are not allowed. "
              "Personal spending on the corporate card must be repaid within 30 days and is reported to "
              "the Finance Director."),
        ("h", "7. Receipts and deadlines"),
        ("p", "Receipts are required for every expense above 25 EUR, except meals covered by the per diem. "
              "Submit expense reports within 30 days of the expense; reports submitted later than 90 days "
              "are not reimbursed. Reimbursements are paid with the next monthly salary."),
        ("h", "8. Audit"),
        ("p", "Finance audits a random sample of 10 percent of expense reports every month, and every report "
              "with a single expense above 1,500 EUR. Findings are reported to the CFO each quarter. "
              "Deliberate misuse of expenses is treated as gross misconduct."),
    ],
]

PAGE_WIDTH, PAGE_HEIGHT = 612, 792  # US Letter, in points
MARGIN = 72
BODY_SIZE, HEADING_SIZE, LEADING = 10, 12, 14
WRAP = 88  # characters per line of 10 pt Helvetica within the margins


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _page_stream(items: list[tuple[str, str]]) -> bytes:
    lines = []
    y = PAGE_HEIGHT - MARGIN
    for style, text in items:
        if style == "h":
            y -= 6
            lines.append(f"BT /F2 {HEADING_SIZE} Tf {MARGIN} {y} Td ({_escape(text)}) Tj ET")
            y -= LEADING + 4
        else:
            for line in textwrap.wrap(text, WRAP):
                lines.append(f"BT /F1 {BODY_SIZE} Tf {MARGIN} {y} Td ({_escape(line)}) Tj ET")
                y -= LEADING
            y -= LEADING // 2
    return "\n".join(lines).encode("latin-1")


def build_pdf() -> bytes:
    """The whole file: catalog, page tree, two fonts, the pages and their streams, info."""
    page_count = len(PAGES)
    first_page = 5
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(f"{first_page + 2 * i} 0 R".encode() for i in range(page_count))
        + f"] /Count {page_count} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    ]
    for index, items in enumerate(PAGES):
        stream = _page_stream(items)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
            f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {first_page + 2 * index + 1} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    info = f"<< /Title ({_escape(TITLE)}) /Author ({_escape(AUTHOR)}) /Producer (samples/make_pdf.py) >>"
    objects.append(info.encode())

    output = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(output))
        output += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(output)
    output += f"xref\n0 {len(objects) + 1}\n".encode()
    output += b"0000000000 65535 f \n"
    for offset in offsets:
        output += f"{offset:010d} 00000 n \n".encode()
    output += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n".encode()
    output += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(output)


if __name__ == "__main__":
    OUTPUT.write_bytes(build_pdf())
    print(f"wrote {OUTPUT}")
