"""The document events an upstream system publishes during the crash test.

Seeded, so that a failing run can be replayed: small documents of varied size
and type (most cut into 1-3 chunks), some replaced by a second version later in
the stream, some deleted after they were published. The plan also says what the
index must hold once the stream has been processed.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from html import escape

from ragline.auditing import event_header
from ragline.v1 import common_pb2, documents_pb2

PRODUCER = "chaos-upstream"
READER_GROUP = "chaos-readers"

# Plain words the guardrail has no reason to redact or flag, so every document is indexed.
_WORDS = (
    "warehouse robot battery charger aisle shelf pallet conveyor sensor scanner route floor shift "
    "operator manual inspection schedule maintenance report quarter budget invoice supplier order "
    "delivery forklift badge training policy safety helmet glove ladder dock trailer inventory count "
    "picker sorter label carton tape scale cabinet locker canteen parking visitor lobby meeting room "
    "north south east west morning evening weekly monthly quickly carefully always never new old "
    "large small heavy light green blue red yellow first second third final team lead member plan"
).split()


@dataclass(frozen=True)
class Planned:
    """One event of the stream, in publishing order."""

    key: str
    event: documents_pb2.DocumentEvent


@dataclass(frozen=True)
class StreamPlan:
    tenant: str
    events: list[Planned]
    # Document id -> the version the index must hold; deleted documents are absent.
    final_versions: dict[str, int]
    deleted: frozenset[str]


def plan_stream(tenant: str, seed: int, documents: int, updates: int, deletions: int) -> StreamPlan:
    """`documents` documents that stay, `updates` of them replaced by version 2 later
    in the stream, and `deletions` further documents deleted after publication."""
    rng = random.Random(seed)
    kept = [f"doc-{index:05d}" for index in range(documents)]
    doomed = [f"gone-{index:05d}" for index in range(deletions)]
    stream: list[tuple[str, documents_pb2.DocumentEvent]] = []
    for document_id in rng.sample(kept + doomed, len(kept) + len(doomed)):
        stream.append((document_id, _upsert(tenant, document_id, 1, rng)))
    # A second version or a delete lands somewhere after the document's first version.
    for document_id, change in [(d, "update") for d in rng.sample(kept, updates)] + [(d, "delete") for d in doomed]:
        first = next(i for i, (planned_id, _) in enumerate(stream) if planned_id == document_id)
        position = rng.randint(first + 1, len(stream))
        if change == "update":
            event = _upsert(tenant, document_id, 2, rng)
        else:
            event = documents_pb2.DocumentEvent(
                header=event_header(tenant, PRODUCER),
                document_id=document_id,
                delete=documents_pb2.DocumentDelete(document_version=1),
            )
        stream.insert(position, (document_id, event))
    final = {document_id: 1 for document_id in kept}
    for document_id, event in stream:
        if event.HasField("upsert") and document_id in final:
            final[document_id] = event.upsert.provenance.document_version
    events = [Planned(f"{tenant}/{document_id}", event) for document_id, event in stream]
    return StreamPlan(tenant, events, final, frozenset(doomed))


def _upsert(tenant: str, document_id: str, version: int, rng: random.Random) -> documents_pb2.DocumentEvent:
    mime_type, content = _content(rng)
    data = content.encode("utf-8")
    provenance = common_pb2.Provenance(
        origin_system=PRODUCER,
        source_uri=f"https://wiki.example/{document_id}",
        author="chaos",
        sensitivity=common_pb2.SENSITIVITY_INTERNAL,
        access=common_pb2.AccessList(groups=[READER_GROUP]),
        document_version=version,
        content_hash=hashlib.sha256(data).hexdigest(),
        title=f"{document_id} v{version}",
    )
    return documents_pb2.DocumentEvent(
        header=event_header(tenant, PRODUCER),
        document_id=document_id,
        upsert=documents_pb2.DocumentUpsert(provenance=provenance, mime_type=mime_type, content=data),
    )


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(_WORDS, k=words)).capitalize() + "."


def _content(rng: random.Random) -> tuple[str, str]:
    """Sizes chosen for the test's 32-token chunks: one short paragraph (1 chunk),
    2-3 sections (2-3 chunks), an HTML page (1-3 chunks), or one long paragraph
    that is cut into overlapping windows (3-6 chunks)."""
    shape = rng.random()
    if shape < 0.45:
        return "text/plain", _sentence(rng, rng.randint(4, 26))
    if shape < 0.75:
        sections = [f"## {_sentence(rng, 2)[:-1]}\n\n{_sentence(rng, rng.randint(5, 22))}" for _ in range(rng.randint(2, 3))]
        return "text/markdown", "\n\n".join(sections)
    if shape < 0.9:
        items = "".join(f"<li>{escape(_sentence(rng, rng.randint(3, 6)))}</li>" for _ in range(rng.randint(2, 4)))
        body = f"<h1>{escape(_sentence(rng, 3))}</h1><p>{escape(_sentence(rng, rng.randint(5, 20)))}</p><ul>{items}</ul>"
        return "text/html", f"<html><body>{body}</body></html>"
    return "text/plain", " ".join(_sentence(rng, rng.randint(6, 10)) for _ in range(rng.randint(6, 12)))
