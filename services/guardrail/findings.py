"""What a detector reports: one check matched one span of the text."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Callable, Iterable


@dataclass(frozen=True)
class Finding:
    # Dotted check name; the part before the first dot is its category: "pii.email", "injection.override".
    check: str
    start: int
    end: int
    # Confidence in [0, 1].
    score: float
    # What was found, for people: "email address". Never the matched text.
    reason: str
    # What redaction puts in place of the span; None means "[REDACTED:<KIND>]".
    replacement: str | None = None

    @property
    def label(self) -> str:
        """The KIND in "[REDACTED:<KIND>]": "pii.payment_card" -> "PAYMENT_CARD"."""
        return self.check.split(".", 1)[-1].upper()


Detector = Callable[[str], Iterable[Finding]]


def without_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Keep one finding per overlapping region, in text order.

    The longest span wins (then the higher score): covering more is the safe
    choice when a redaction is at stake, and it makes a number that is both a
    Luhn-valid card and phone-shaped, or an email inside a removed link, one
    finding instead of two.
    """
    kept_starts: list[int] = []
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (-(f.end - f.start), -f.score, f.start)):
        index = bisect.bisect_left(kept_starts, finding.start)
        if index > 0 and kept[index - 1].end > finding.start:
            continue
        if index < len(kept) and kept[index].start < finding.end:
            continue
        kept_starts.insert(index, finding.start)
        kept.insert(index, finding)
    return kept


def detect(text: str, detectors: Iterable[Detector]) -> list[Finding]:
    return [finding for detector in detectors for finding in detector(text)]
