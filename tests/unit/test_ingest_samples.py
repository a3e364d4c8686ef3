"""The sample corpus: a manifest the CLI can trust, a reproducible PDF, one answer per question."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from ragline.auth import CLEARANCES
from ragline.cli import corpus
from samples.make_docx import build_docx
from samples.make_pdf import build_pdf
from services.ingest.parsing import parse
from services.ingest.limits import Limits
from services.ingest.media_types import DOCX, SUPPORTED_TYPES
from services.ingest.validation import validate

CORPUS = Path(__file__).resolve().parents[2] / "samples" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
FIELDS = {
    "file", "mime_type", "document_id", "document_version", "title", "source_uri", "origin_system", "author",
    "created_at", "updated_at", "sensitivity", "access_groups",
}  # fmt: skip


def test_the_manifest_lists_every_file_with_complete_provenance():
    documents = MANIFEST["documents"]
    assert MANIFEST["tenant"]
    assert {d["file"] for d in documents} == {p.name for p in CORPUS.iterdir() if p.name != "manifest.json"}
    assert len({d["document_id"] for d in documents}) == len(documents)
    for document in documents:
        assert set(document) == FIELDS, document["file"]
        assert document["mime_type"] in SUPPORTED_TYPES
        assert document["sensitivity"] in CLEARANCES
        assert document["access_groups"]
    confidential = [d for d in documents if d["sensitivity"] == "confidential"]
    assert [(d["file"], d["access_groups"]) for d in confidential] == [("expense-policy.pdf", ["finance"])]
    assert sorted(d["mime_type"] for d in documents) == sorted(
        ["text/markdown"] * 2 + ["text/html"] + ["text/plain"] * 2 + ["application/pdf"] + [DOCX]
    )


def test_the_cli_turns_every_sample_into_a_valid_event_with_text():
    tenant, specs = corpus.specs_from_manifest(CORPUS / "manifest.json")
    assert len(specs) == len(MANIFEST["documents"])
    for spec in specs:
        event = corpus.upsert_event(tenant, spec)
        assert validate(event, Limits()) is None, spec.path.name
        assert event.upsert.provenance.access.groups and event.upsert.provenance.title, spec.path.name
        assert len(parse(event.upsert.mime_type, event.upsert.content)) >= 2, spec.path.name


def test_the_committed_pdf_is_what_make_pdf_writes():
    assert (CORPUS / "expense-policy.pdf").read_bytes() == build_pdf()


def test_the_committed_docx_holds_what_make_docx_writes():
    # Entry by entry: the compressed bytes depend on the zlib build, the contents do not.
    def entries(package: bytes) -> dict[str, bytes]:
        with zipfile.ZipFile(io.BytesIO(package)) as archive:
            return {name: archive.read(name) for name in archive.namelist()}

    assert entries((CORPUS / "warehouse-safety.docx").read_bytes()) == entries(build_docx())


def test_each_benchmark_fact_is_stated_in_one_document_only():
    texts = {}
    for document in MANIFEST["documents"]:
        blocks = parse(document["mime_type"], (CORPUS / document["file"]).read_bytes())
        texts[document["file"]] = " ".join(block.text for block in blocks)
    facts = {
        "10 hours of continuous picking": "nw7-picker-spec.md",
        "35 kg per tote": "nw7-picker-spec.md",
        "90 minutes from 10 % to 100 %": "nw7-picker-spec.md",
        "28 days of paid annual leave": "leave-policy.txt",
        "160 EUR per night": "expense-policy.pdf",
        "VPN sessions expire after 12 hours": "security-vpn-policy.html",
        "every Monday at 10:00 CET": "oncall-runbook.md",
        "extension 4357": "onboarding-faq.txt",
        "the speed limit for forklifts inside the warehouse is 8 km/h": "warehouse-safety.docx",
        "Charging bay | Face shield, acid-resistant gloves and apron | Maintenance lead": "warehouse-safety.docx",
    }
    for fact, source in facts.items():
        assert [name for name, text in texts.items() if fact in text] == [source], fact
