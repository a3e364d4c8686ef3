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
