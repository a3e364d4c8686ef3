"""Answers without a language model: quotes the passage sentences that answer the question, or refuses.

Deterministic and explainable, the default when no model endpoint is
configured, and it says so in the answer. The prompt version in force sets how
it selects (`[extractive]` in the prompt file), so a change of selection is
tried, split and rolled back like any prompt change. Two methods:

- "overlap" (answer@v1, v2, as published): sentences sharing at least
  `min_coverage` of the question's content words, best first by the rarity of
  the shared words among the retrieved sentences.
- "coverage" (answer@v3): a sentence must cover the question, not just touch
  it. Passages are cut into statements (sentences.passage_sentences). Each
  content word of the question weighs by its rarity among the retrieved
  statements, and a word no passage contains weighs most: it is the surest
  sign that the passages are about something else. A statement covers the
  words it states (with its table's header row) at full weight, and those of
  its topic (the question it answers in a FAQ, the heading above it, the
  document title and heading path) at half weight, and must cover at least
  `min_coverage` of the question's weight. Every name and number of the
  question ("NW-9", "SEV2", "2,000") must appear in the statement's passage.
  The word after "how" ("how long", "how many") and "kind" in "what kind of"
  say what sort of answer is wanted, not what it is about, so they do not
  count. Ties go to the passage retrieval ranked higher.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Generator, Iterable, Sequence

from ragline.v1 import retrieval_pb2
from services.generation.answerer import NO_PASSAGE, Draft
from services.generation.prompts import ExtractiveSelection, PromptTemplate
from services.generation.sentences import passage_sentences

MODEL = "extractive"
LABEL = "Extractive answer (no language model configured):"
# Without the names themselves: the audit record keeps the refusal reason, never the question's text.
NOT_NAMED = "No passage you may read mentions the names and numbers the question asks about."

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
    # What a further sentence must have a share of the best one's: shared words (overlap), or coverage.
    measure: float
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
        selection = prompt.extractive
        if selection.method == "coverage":
            picks, reason = _coverage_picks(question, passages, selection)
        else:
            picks, reason = _overlap_picks(question, passages, selection), NO_PASSAGE
        if not picks:
            return [], Draft(text="", model=MODEL, prompt_version=prompt.ref, refused=True, refusal_reason=reason)
        pieces = [LABEL] + [f" {pick.sentence} [{pick.passage}]" for pick in picks]
        citations = tuple(sorted({pick.passage for pick in picks}))
        return pieces, Draft(text="".join(pieces), model=MODEL, citations=citations, prompt_version=prompt.ref)


def _overlap_picks(
    question: str, passages: Sequence[retrieval_pb2.SearchHit], selection: ExtractiveSelection
) -> list[_Candidate]:
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
    best = max((c.measure for c in candidates), default=0)
    return [c for c in candidates if c.measure >= selection.min_share_of_best * best][: selection.max_sentences]


# --- the "coverage" method ----------------------------------------------------

# "how long", "how many", "what kind of": the word names the sort of answer wanted, not its subject.
_ANSWER_SORT = re.compile(r"\bhow\s+(\w+)|\b(?:what|which)\s+(kind|type|sort)\s+of\b", re.IGNORECASE)
# A name or a number as written: "NW-9", "SEV2", "2,000", "Kubernetes", "EUR".
_TOKEN = re.compile(r"\w+(?:[-.,/]\w+)*")
# Where the guardrail redacted personal data from the question: no word of the asker's.
_REDACTED = re.compile(r"\[REDACTED:\w+\]")


def stem(word: str) -> str:
    """A light stem, so that "charging", "charges" and "charge" meet; deliberately crude and predictable."""
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # "stopped" -> "stop"
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def terms(text: str) -> set[str]:
    """Stemmed content words."""
    return {stem(word) for word in _WORD.findall(text.lower()) if word not in _STOP_WORDS and (len(word) > 1 or word.isdigit())}


def question_terms(question: str) -> set[str]:
    """The question's terms, without the words that only say what sort of answer is wanted."""
    question = _REDACTED.sub(" ", question)
    sort_words = {stem(word.lower()) for match in _ANSWER_SORT.findall(question) for word in match if word}
    return terms(question) - sort_words


def names_and_numbers(question: str) -> dict[str, set[str]]:
    """Each name or number of the question as written, with its terms.

    A name is written with a capital inside the sentence (not its first word)
    or mixes letters and digits; a number has a digit.
    """
    found = {}
    for index, match in enumerate(_TOKEN.finditer(_REDACTED.sub(" ", question))):
        token = match.group()
        if any(c.isdigit() for c in token) or (index > 0 and any(c.isupper() for c in token)):
            if token_terms := terms(token):
                found[token] = token_terms
    return found


# A word only in a sentence's topic counts for this share of its weight: the
# heading says what the section is about, the sentence what it states.
_TOPIC_SHARE = 0.5


@dataclass(frozen=True)
class _Sentence:
    passage: int  # 1-based, as cited
    position: int
    text: str
    states: frozenset[str]  # its own terms
    covers: frozenset[str]  # its terms and its topic's

    def coverage(self, weight: dict[str, float]) -> float:
        """The share of the question's weight (`weight` of each of its terms) this sentence covers."""
        covered = sum(w if word in self.states else _TOPIC_SHARE * w for word, w in weight.items() if word in self.covers)
        return covered / sum(weight.values())


def _sentences(passages: Sequence[retrieval_pb2.SearchHit]) -> Iterable[_Sentence]:
    seen: set[str] = set()
    for number, passage in enumerate(passages, start=1):
        about = terms(" ".join((passage.provenance.title, *passage.heading_path)))
        for position, sentence in enumerate(passage_sentences(passage.text)):
            if sentence.text.lower() in seen:
                continue
            seen.add(sentence.text.lower())
            states = frozenset(terms(sentence.text) | terms(sentence.columns))
            yield _Sentence(number, position, sentence.text, states, states | terms(sentence.topic) | about)


def _coverage_picks(
    question: str, passages: Sequence[retrieval_pb2.SearchHit], selection: ExtractiveSelection
) -> tuple[list[_Candidate], str]:
    wanted = question_terms(question)
    sentences = list(_sentences(passages))
    if not wanted or not sentences:
        return [], NO_PASSAGE
    # A name or number of the question must be in the passage a sentence comes from.
    names = names_and_numbers(question)
    passage_terms: dict[int, frozenset[str]] = {}
    for sentence in sentences:
        passage_terms[sentence.passage] = passage_terms.get(sentence.passage, frozenset()) | sentence.covers
    named = {number for number, found in passage_terms.items() if all(name <= found for name in names.values())}
    if not named:
        return [], NOT_NAMED
    # Rarity among the retrieved sentences; a word in none of them weighs most.
    frequency = Counter(word for sentence in sentences for word in sentence.covers & wanted)
    weight = {word: math.log(1 + len(sentences) / (1 + frequency[word])) for word in wanted}
    candidates = []
    for sentence in sentences:
        if sentence.passage not in named:
            continue
        coverage = sentence.coverage(weight)
        if coverage >= selection.min_coverage:
            candidates.append(_Candidate(coverage, coverage, sentence.passage, sentence.position, sentence.text))
    # Best first; ties go to the passage retrieval ranked higher, then to reading order.
    candidates.sort(key=lambda c: (-c.score, c.passage, c.position))
    best = max((c.measure for c in candidates), default=0.0)
    picks = [c for c in candidates if c.measure >= selection.min_share_of_best * best][: selection.max_sentences]
    return picks, NO_PASSAGE
