"""Citation markers in answer text, and the citations they stand for."""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from ragline.v1 import generation_pb2, retrieval_pb2

# "[2]", and the grouped forms models also write: "[1, 3]", "[1][3]" (two markers).
_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def cited_numbers(text: str, passage_count: int) -> tuple[int, ...]:
    """The passage numbers the text cites, ascending; numbers with no passage are dropped."""
    numbers = {int(n) for group in _MARKER.findall(text) for n in group.split(",")}
    return tuple(sorted(n for n in numbers if 1 <= n <= passage_count))


def build_citations(
    numbers: Iterable[int], passages: Sequence[retrieval_pb2.SearchHit]
) -> list[generation_pb2.Citation]:
    """One citation per cited number, naming the retrieved chunk it refers to."""
    citations = []
    for number in numbers:
        hit = passages[number - 1]
        provenance = hit.provenance
        citation = generation_pb2.Citation(
            index=number,
            chunk_id=hit.chunk_id,
            document_id=hit.document_id,
            title=provenance.title,
            source_uri=provenance.source_uri,
            document_version=provenance.document_version,
            snippet=hit.text,
        )
        if provenance.HasField("updated_at"):
            citation.updated_at.CopyFrom(provenance.updated_at)
        citations.append(citation)
    return citations
