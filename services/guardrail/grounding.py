"""Groundedness: which sentences of an answer the retrieved passages support.

A sentence is supported when one passage holds at least a policy share of
its content words (stop words dropped, accents folded, words cut to a
five-letter stem so that "charges" meets "charging"), and every number it
states occurs in some passage: a changed figure is the commonest
hallucination and shares all its other words with the source. Sentences with
fewer than three content words ("Yes.", "[2]") are not judged. This is
lexical: an answer that paraphrases with entirely different words is judged
unsupported, which errs on the side the policy threshold can tune.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

_SENTENCE = re.compile(r"[^\s].*?(?:[.!?]+[\"')\]]*(?=\s|$)|\n|$)", re.DOTALL)
_CITATION = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d")
_STEM_CHARS = 5
_MIN_CONTENT_WORDS = 3

_STOP_WORDS = frozenset(
    """
    a an the and or but if then so of to in on at by for with from as is are was were be been being it its this that these
    those there here what which who whom whose when where why how not no yes can could may might must shall should will would
    do does did done has have had having i you he she we they me him her us them my your his our their than also about into
    over under up down out more most such only own same very just any all each other some both per via
    der die das den dem des ein eine einer einem einen und oder aber wenn dann also ist sind war waren sein mit von zu im in am
    an auf fur bei aus als auch nicht kein keine wie was wer wo warum es er sie wir ihr ich du man nur noch schon sich so
    le la les un une des du de et ou mais si est sont etait etre avec pour par sur dans au aux ce cet cette ces il elle nous
    vous ils elles je tu on ne pas plus que qui quoi ou comme aussi
    el la los las un una unos unas y o pero si es son era ser con por para en al del lo que quien como tambien no mas su sus
    """.split()
)


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def content_words(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """(word stems, numbers) of a text, citation markers left out."""
    words = _WORD.findall(_fold(_CITATION.sub(" ", text)))
    numbers = frozenset(word for word in words if _NUMBER.search(word))
    stems = frozenset(word[:_STEM_CHARS] for word in words if word not in _STOP_WORDS and (len(word) > 2 or word in numbers))
    return stems, numbers


@dataclass(frozen=True)
class SentenceSupport:
    start: int
    end: int
    # Share of the sentence's content words found in the best passage; 1.0 when not judged.
    support: float
    judged: bool
    unsupported_numbers: bool = False


class PassageIndex:
    """The passages' content words, computed once per screen."""

    def __init__(self, passages: Sequence[str]):
        self._passages = [content_words(passage) for passage in passages]
        self._numbers = frozenset().union(*(numbers for _, numbers in self._passages)) if self._passages else frozenset()

    def __bool__(self) -> bool:
        return bool(self._passages)

    def support(self, stems: frozenset[str]) -> float:
        return max((len(stems & passage) / len(stems) for passage, _ in self._passages), default=0.0)

    def states_unknown_numbers(self, numbers: frozenset[str]) -> bool:
        return bool(numbers - self._numbers)


def sentences(text: str) -> list[tuple[int, int]]:
    return [(match.start(), match.end()) for match in _SENTENCE.finditer(text) if match.group().strip()]


def assess(text: str, index: PassageIndex, ignore_phrases: Sequence[str] = ()) -> list[SentenceSupport]:
    for phrase in ignore_phrases:
        # Blank the phrase out, keeping every offset.
        text = text.replace(phrase, " " * len(phrase))
    assessed = []
    for start, end in sentences(text):
        stems, numbers = content_words(text[start:end])
        if len(stems) < _MIN_CONTENT_WORDS:
            assessed.append(SentenceSupport(start, end, 1.0, judged=False))
            continue
        unknown_numbers = index.states_unknown_numbers(numbers)
        support = 0.0 if unknown_numbers else index.support(stems)
        assessed.append(SentenceSupport(start, end, support, judged=True, unsupported_numbers=unknown_numbers))
    return assessed
