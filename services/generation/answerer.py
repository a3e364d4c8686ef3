"""What every answerer produces, and the interface the orchestrator calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator, Protocol, Sequence

from ragline.v1 import retrieval_pb2

NO_PASSAGE = "No passage you may read answers this question."


@dataclass(frozen=True)
class Draft:
    """An answer before output screening."""

    text: str
    model: str
    # 1-based numbers of the passages the text cites as [n], ascending.
    citations: tuple[int, ...] = ()
    prompt_version: str = ""
    refused: bool = False
    refusal_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Answerer(Protocol):
    def answer(self, question: str, passages: Sequence[retrieval_pb2.SearchHit]) -> Draft:
        """The whole answer at once."""
        ...

    def stream(self, question: str, passages: Sequence[retrieval_pb2.SearchHit]) -> Generator[str, None, Draft]:
        """Yields the text as it is produced and returns the draft (use `draft = yield from ...`).

        The joined pieces equal the draft's text. Closing the generator early
        stops whatever produces the text.
        """
        ...
