"""What every answerer produces, and the interface the orchestrator calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator, Protocol, Sequence

from ragline.v1 import retrieval_pb2
from services.generation.prompts import PromptTemplate

NO_PASSAGE = "No passage you may read answers this question."
UNCITED = "The passages do not support an answer: the model's reply cites none of them."


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
    # The model endpoint that wrote it; "" for the extractive answerer.
    endpoint: str = ""
    # The model stopped at its token limit: the last sentence may be unfinished.
    truncated: bool = False


class Answerer(Protocol):
    def answer(
        self, question: str, passages: Sequence[retrieval_pb2.SearchHit], prompt: PromptTemplate, max_tokens: int
    ) -> Draft:
        """The whole answer at once, at most `max_tokens` tokens from a model."""
        ...

    def stream(
        self, question: str, passages: Sequence[retrieval_pb2.SearchHit], prompt: PromptTemplate, max_tokens: int
    ) -> Generator[str, None, Draft]:
        """Yields the text as it is produced and returns the draft (use `draft = yield from ...`).

        The joined pieces equal the draft's text, unless the draft is a
        refusal. Closing the generator early stops whatever produces the text.
        """
        ...
