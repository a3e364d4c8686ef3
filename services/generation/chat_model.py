"""Answers with a chat model behind OpenAI-compatible endpoints (OpenAI, Azure, vLLM, Ollama, llama.cpp...)."""

from __future__ import annotations

from typing import Generator, Sequence

from ragline.v1 import retrieval_pb2
from services.generation.answerer import UNCITED, Draft
from services.generation.citations import cited_numbers
from services.generation.model_router import Completion, ModelRouter
from services.generation.prompts import PromptTemplate


class ChatModelAnswerer:
    def __init__(self, router: ModelRouter, canary: str = ""):
        self._router = router
        # Shared with the guardrail (RAGLINE_PROMPT_CANARY), which blocks answers that leak it.
        self._canary = canary

    def answer(
        self, question: str, passages: Sequence[retrieval_pb2.SearchHit], prompt: PromptTemplate, max_tokens: int
    ) -> Draft:
        completion = self._router.complete(prompt.messages(question, passages, self._canary), max_tokens)
        return _draft(completion, passages, prompt)

    def stream(
        self, question: str, passages: Sequence[retrieval_pb2.SearchHit], prompt: PromptTemplate, max_tokens: int
    ) -> Generator[str, None, Draft]:
        deltas = self._router.stream(prompt.messages(question, passages, self._canary), max_tokens)
        marker = prompt.refusal_marker
        # Text is held back until it cannot be the refusal marker any more, so
        # that a refusal never streams to the caller as if it were an answer.
        held = ""
        deciding = bool(marker)
        refusing = False
        try:
            while True:
                delta = next(deltas)
                if not deciding:
                    if not refusing:
                        yield delta
                    continue
                held += delta
                head = held.lstrip()
                if len(head) < len(marker) and marker.startswith(head):
                    continue
                deciding = False
                refusing = head.startswith(marker)
                if not refusing:
                    yield held
        except StopIteration as end:
            completion: Completion = end.value
        finally:
            deltas.close()
        return _draft(completion, passages, prompt)


def _draft(completion: Completion, passages: Sequence[retrieval_pb2.SearchHit], prompt: PromptTemplate) -> Draft:
    text = completion.text
    citations = cited_numbers(text, len(passages))
    refusal = ""
    marker = prompt.refusal_marker
    if marker and text.lstrip().startswith(marker):
        reason = text.lstrip()[len(marker):].strip()
        refusal = f"The passages do not support an answer: {reason}" if reason else UNCITED
    elif not citations:
        refusal = UNCITED
    return Draft(
        text="" if refusal else text,
        model=completion.model,
        citations=() if refusal else citations,
        prompt_version=prompt.ref,
        refused=bool(refusal),
        refusal_reason=refusal,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        endpoint=completion.endpoint,
        truncated=completion.finish_reason == "length",
    )
