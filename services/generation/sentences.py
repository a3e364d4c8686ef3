"""Cuts streamed text into whole sentences, so each can be screened before it is sent;
and retrieved passages into the statements an extractive answer may quote."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Sentence end: punctuation (optionally closed by a quote, bracket or parenthesis)
# followed by white space, or a line break.
_BOUNDARY = re.compile(r"[.!?][\"')\]]*\s+|\n")


class SentenceBuffer:
    """Holds streamed text back until a sentence is complete.

    A text without sentence ends is released at the last space once it
    exceeds `max_chars`, so that a long list or run-on sentence still streams.
    """

    def __init__(self, max_chars: int = 600):
        self._max_chars = max_chars
        self._pending = ""

    def add(self, delta: str) -> str:
        """Add streamed text; return the complete sentences now releasable ("" if none)."""
        self._pending += delta
        cut = 0
        for match in _BOUNDARY.finditer(self._pending):
            cut = match.end()
        if not cut and len(self._pending) > self._max_chars:
            cut = self._pending.rfind(" ") + 1
        released, self._pending = self._pending[:cut], self._pending[cut:]
        return released

    def drain(self) -> str:
        """The text still held back, at the end of the stream."""
        released, self._pending = self._pending, ""
        return released


# Where a sentence may be cut: its end punctuation (with closing quotes or
# brackets) and the citation markers that follow it, as in "... 90 days. [2]".
_SENTENCE_CUT = re.compile(r"[.!?][\"')]*(?:\s*\[\d+(?:\s*,\s*\d+)*\])*(?=\s|$)|\n")


def cut_to_sentences(text: str, max_chars: int, *, mid_sentence: bool = True) -> str:
    """The longest run of whole sentences of `text` within `max_chars`.

    Without a sentence end in reach (one very long sentence), the text is cut
    at the last space and marked with an ellipsis, so the cut is visible; or,
    with `mid_sentence=False`, nothing is kept.
    """
    if len(text) <= max_chars:
        return text
    cuts = [match.end() for match in _SENTENCE_CUT.finditer(text) if match.end() <= max_chars]
    if cuts:
        return text[: cuts[-1]].rstrip()
    if not mid_sentence or max_chars < 2:
        return ""
    space = text.rfind(" ", 0, max_chars)
    return text[: space if space > 0 else max_chars - 1].rstrip() + "…"


def without_unfinished_sentence(text: str) -> str:
    """`text` up to its last sentence end: a model stopped by its token limit leaves half a sentence."""
    cuts = [match.end() for match in _SENTENCE_CUT.finditer(text)]
    return text[: cuts[-1]].rstrip() if cuts else ""


# --- the sentences of a retrieved passage, for quoting ------------------------

# A list item's marker ("- ", "* ", "1. ", "b) ") or a FAQ label ("Q: ", "A: ").
_ITEM_MARKER = re.compile(r"^(?:[-*•]|\d{1,2}[.)]|[a-z][.)]|[QA]:)\s+")
_PASSAGE_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# A line ending like this ends its sentence; any other line may go on in the next one.
_LINE_END = re.compile(r"[.!?:]\s*$")
# A line of text without an end like this, and this short, is a heading: "3. Hotels", "Meals and per diem".
_STATEMENT_END = re.compile(r"[.!?;]\s*$")
_MAX_HEADING_WORDS = 8
# Aligned columns (code, or a table drawn with spaces): a line to keep whole and alone.
_ALIGNED = re.compile(r"\S {2,}\S")
# A line at least this share of the passage's widest line, ending mid-sentence, was wrapped.
_WRAPPED_SHARE = 0.7
# Fewer words than this is a heading or a label, not a statement worth quoting.
_MIN_STATEMENT_WORDS = 3


@dataclass(frozen=True)
class PassageSentence:
    """A quotable sentence of a passage, and the text that says what it is about.

    The topic is the question it answers in a question-and-answer list, or
    the heading or run-in title above it. A table row also has the header row
    of its table, which names what each of its cells states.
    """

    text: str
    topic: str = ""
    columns: str = ""


def passage_sentences(text: str) -> list[PassageSentence]:
    """The statements of a passage in reading order, each with its topic.

    Lines wrapped mid-sentence (plain text, PDF) are joined again, and so are
    sub-items that finish their parent item's sentence. Table rows and aligned
    lines are statements of their own. Headings and questions are not quoted:
    they become the topic of what follows them.
    """
    sentences: list[PassageSentence] = []
    topic = ""
    header = ""
    answering = False  # the last piece was a question: the next one answers it, however short
    for kind, block in _logical_lines(text):
        if kind == "break":
            topic = header = ""
            answering = False
        elif kind == "row":
            cells = " | ".join(cell.strip() for cell in block.strip().strip("|").split("|"))
            if header:
                sentences.append(PassageSentence(cells, topic, header))
            else:
                header = cells
        elif kind == "aligned":
            header = ""
            sentences.append(PassageSentence(" ".join(block.split()), topic))
        elif not _STATEMENT_END.search(block) and len(block.split()) <= _MAX_HEADING_WORDS:
            topic, header, answering = _ITEM_MARKER.sub("", block), "", False
        else:
            header = ""
            for piece in _PASSAGE_SENTENCE_END.split(_ITEM_MARKER.sub("", block)):
                piece = _ITEM_MARKER.sub("", " ".join(piece.split()))
                if not piece:
                    continue
                if piece.endswith("?") or (len(piece.split()) < _MIN_STATEMENT_WORDS and not answering):
                    topic = piece
                else:
                    sentences.append(PassageSentence(piece, topic))
                answering = piece.endswith("?")
    return sentences


def _logical_lines(text: str) -> list[tuple[str, str]]:
    """("text" | "row" | "aligned" | "break", content): wrapped lines joined, blank lines as breaks."""
    lines = text.splitlines()
    widest = max((len(line.rstrip()) for line in lines), default=0)
    found: list[tuple[str, str]] = []
    first = previous = ""  # the first and last line of the text block being built, "" when none is
    for line in lines:
        stripped = line.strip()
        if not stripped:
            found.append(("break", ""))
            first = previous = ""
        elif "|" in stripped or _ALIGNED.search(stripped):
            found.append(("row" if "|" in stripped else "aligned", stripped))
            first = previous = ""
        elif previous and not _LINE_END.search(previous) and (
            _indent(line) > _indent(first)
            or (not _ITEM_MARKER.match(stripped) and len(previous.rstrip()) >= _WRAPPED_SHARE * widest)
        ):
            found[-1] = ("text", f"{found[-1][1]} {_ITEM_MARKER.sub('', stripped)}")
            previous = line
        else:
            found.append(("text", stripped))
            first = previous = line
    return found


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())
