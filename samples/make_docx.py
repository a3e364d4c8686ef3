"""Writes samples/corpus/warehouse-safety.docx: a Word document with a title,
nested headings, bulleted and numbered lists and a table, as ingest must read it.

The package's contents are reproducible (fixed document dates, fixed ZIP entry
times), so a test checks that the committed file holds what this script writes.

    .venv/bin/python samples/make_docx.py
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import docx

OUTPUT = Path(__file__).resolve().parent / "corpus" / "warehouse-safety.docx"
TITLE = "Warehouse Safety Procedures"
AUTHOR = "Health and Safety, Northwind Robotics"
WRITTEN = datetime(2025, 1, 13, 9, 0, tzinfo=timezone.utc)
# ZIP entries carry a local time; a fixed one keeps the file reproducible.
ENTRY_TIME = (2025, 1, 13, 9, 0, 0)

PROTECTIVE_EQUIPMENT = [
    ("Zone", "Required equipment", "Who checks"),
    ("Robot aisles", "High-visibility vest, S3 safety shoes", "Shift lead"),
    ("Loading dock", "Vest, safety shoes, cut-resistant gloves", "Dock supervisor"),
    ("Charging bay", "Face shield, acid-resistant gloves and apron", "Maintenance lead"),
]


def build_docx() -> bytes:
    document = docx.Document()
    properties = document.core_properties
    properties.title, properties.author, properties.last_modified_by = TITLE, AUTHOR, AUTHOR
    properties.created = properties.modified = WRITTEN
    properties.revision = 1

    document.add_heading(TITLE, level=0)
    document.add_paragraph(
        "These procedures apply to everyone who enters a Northwind Robotics warehouse: employees, "
        "contractors and visitors. Site managers make sure they are posted at every entrance."
    )
    document.add_heading("1. Moving around the warehouse", level=1)
    document.add_paragraph(
        "Forklifts drive at walking pace: the speed limit for forklifts inside the warehouse is 8 km/h, "
        "and 5 km/h within ten metres of a robot aisle."
    )
    document.add_paragraph("Walk only on the green pedestrian paths.", style="List Bullet")
    document.add_paragraph("Never cross a robot aisle while its amber beacon is lit.", style="List Bullet")
    document.add_paragraph("Visitors are escorted at all times.", style="List Bullet 2")
    document.add_heading("2. Protective equipment", level=1)
    document.add_paragraph("Each zone has its own protective equipment; nobody enters a zone without it.")
    table = document.add_table(rows=0, cols=3)
    for row in PROTECTIVE_EQUIPMENT:
        cells = table.add_row().cells
        for cell, text in zip(cells, row):
            cell.text = text
    document.add_heading("3. Fire alarm", level=1)
    document.add_heading("3.1 Evacuation", level=2)
    document.add_paragraph("Leave by the nearest marked exit; do not stop to collect belongings.", style="List Number")
    document.add_paragraph("Gather at assembly point B, the north car park.", style="List Number")
    document.add_paragraph("Report to your fire warden, who counts everyone against the visitor log.", style="List Number")

    written = io.BytesIO()
    document.save(written)
    return _with_fixed_times(written.getvalue())


def _with_fixed_times(package: bytes) -> bytes:
    output = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as source, zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=ENTRY_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, source.read(entry.filename))
    return output.getvalue()


if __name__ == "__main__":
    OUTPUT.write_bytes(build_docx())
    print(f"wrote {OUTPUT}")
