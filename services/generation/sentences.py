"""Cuts streamed text into whole sentences, so each can be screened before it is sent."""

from __future__ import annotations

import re

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
