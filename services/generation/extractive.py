"""Answers without a language model: quotes the passage sentences that best match the question.

Matching is lexical overlap of content words (lower-cased, stop words dropped,
plural endings folded), each word weighted by how rare it is among the
retrieved sentences: a word every passage shares (the product name) tells
less than the one that answers. Deterministic and explainable. It is
the default when no model endpoint is configured, and says so in the answer.
The prompt version in force sets how many sentences it quotes and how much of
the question each must cover, so a version change is tried, split and rolled
back the same way with or without a model.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Generator, Sequence

from ragline.v1 import retrieval_pb2
from services.generation.answerer import NO_PASSAGE, Draft
from services.generation.prompts import ExtractiveSelection, PromptTemplate

MODEL = "extractive"
LABEL = "Extractive answer (no language model configured):"

_STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her here hers
    how i if in into is it its itself just many may me might more most much must my no nor not of off on once only
    or other our ours out over own please same shall she should so some such tell than that the their theirs them
    then there these they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours""".split()
)
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_MIN_SENTENCE_WORDS = 3


def content_words(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    return {_fold(word) for word in words if word not in _STOP_WORDS and (len(word) > 1 or word.isdigit())}


def _fold(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@dataclass(frozen=True)
class _Candidate:
    score: float
    overlap: int
    passage: int  # 1-based, as cited
    position: int
    sentence: str


class ExtractiveAnswerer:
    def answer(
        self, question: str, passages: Sequence[retrieval_pb2.SearchHit], prompt: PromptTemplate, max_tokens: int
    ) -> Draft:
        _, draft = self._compose(question, passages, prompt)
        return draft

    def stream(
        self, question: str, passages: Sequence[retrieval_pb2.SearchHit], prompt: PromptTemplate, max_tokens: int
    ) -> Generator[str, None, Draft]:
        pieces, draft = self._compose(question, passages, prompt)
        yield from pieces
        return draft

    def _compose(
        self, question: str, passages: Sequence[retrieval_pb2.SearchHit], prompt: PromptTemplate
    ) -> tuple[list[str], Draft]:
        picks = _pick(question, passages, prompt.extractive)
        if not picks:
            return [], Draft(text="", model=MODEL, prompt_version=prompt.ref, refused=True, refusal_reason=NO_PASSAGE)
        pieces = [LABEL] + [f" {pick.sentence} [{pick.passage}]" for pick in picks]
        citations = tuple(sorted({pick.passage for pick in picks}))
        return pieces, Draft(text="".join(pieces), model=MODEL, citations=citations, prompt_version=prompt.ref)


def _pick(question: str, passages: Sequence[retrieval_pb2.SearchHit], selection: ExtractiveSelection) -> list[_Candidate]:
    wanted = content_words(question)
    if not wanted:
        return []
    sentences: list[tuple[int, int, str, set[str]]] = []
    seen: set[str] = set()
    for number, passage in enumerate(passages, start=1):
        for position, raw in enumerate(_SENTENCE_END.split(passage.text)):
            sentence = " ".join(raw.split())
            if len(sentence.split()) < _MIN_SENTENCE_WORDS or sentence.lower() in seen:
                continue
            seen.add(sentence.lower())
            sentences.append((number, position, sentence, content_words(sentence)))
    frequency = Counter(word for *_, words in sentences for word in words & wanted)
    candidates = []
    for number, position, sentence, words in sentences:
        shared = wanted & words
        if shared and len(shared) / len(wanted) >= selection.min_coverage:
            score = sum(math.log(1 + len(sentences) / frequency[word]) for word in shared)
            candidates.append(_Candidate(score, len(shared), number, position, sentence))
    # Best match first; ties go to the better-ranked passage, then to reading order.
    candidates.sort(key=lambda c: (-c.score, c.passage, c.position))
    # More sentences only when nearly as good as the best: one shared word
    # with a longer question is rarely an answer.
    best = max((c.overlap for c in candidates), default=0)
    return [c for c in candidates if 3 * c.overlap >= 2 * best][: selection.max_sentences]
