"""The three screens: documents at ingest, questions before retrieval, answers before the caller."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from services.guardrail.findings import Detector, Finding, detect, without_overlaps
from services.guardrail.injection import INJECTION_DETECTORS
from services.guardrail.links import LinkFilter
from services.guardrail.policy import ALLOW, BLOCK, FLAG, REDACT, Policy, Screen
from services.guardrail.redaction import redact
from services.guardrail.sensitive import SENSITIVE_DETECTORS, fingerprint

_ACTION_WORDS = {ALLOW: "allowed", REDACT: "redacted", FLAG: "flagged", BLOCK: "blocked"}
# Categories whose values in an answer are no leak when the context passages hold them.
_GROUNDABLE = ("pii", "secret")


@dataclass(frozen=True)
class Verdict:
    check: str
    action: int
    score: float
    # Never contains the matched text.
    reason: str


@dataclass(frozen=True)
class ScreenResult:
    # The text to use downstream; empty when the screen blocked it.
    text: str
    verdicts: tuple[Verdict, ...]
    suspected_injection: bool = False

    @property
    def allowed(self) -> bool:
        return all(verdict.action != BLOCK for verdict in self.verdicts)


class Screener:
    def __init__(
        self,
        sensitive: Sequence[Detector] = SENSITIVE_DETECTORS,
        injection: Sequence[Detector] = INJECTION_DETECTORS,
    ):
        self._sensitive = tuple(sensitive)
        self._injection = tuple(injection)

    def screen_document(self, text: str, policy: Policy) -> ScreenResult:
        injections = detect(text, self._injection)
        findings = [*without_overlaps(detect(text, self._sensitive)), *injections]
        decided = [(finding, policy.action(Screen.DOCUMENT, finding.check)) for finding in findings]
        return _result(text, decided, suspected_injection=bool(injections))

    def screen_input(self, text: str, policy: Policy) -> ScreenResult:
        decided: list[tuple[Finding, int]] = []
        if len(text) > policy.max_input_chars:
            reason = f"input of {len(text)} characters, over the limit of {policy.max_input_chars}"
            too_long = Finding("input.length", 0, len(text), 1.0, reason)
            decided.append((too_long, policy.action(Screen.INPUT, too_long.check)))
            if decided[0][1] == BLOCK:
                # Refused anyway: scanning an oversized text would only cost time.
                return _result(text, decided)
        findings = [*without_overlaps(detect(text, self._sensitive)), *detect(text, self._injection)]
        decided += [(finding, policy.action(Screen.INPUT, finding.check)) for finding in findings]
        return _result(text, decided)

    def screen_output(self, text: str, context: Sequence[str], policy: Policy) -> ScreenResult:
        links = LinkFilter(policy.allows_host)
        known = {
            (f.check, fingerprint(f.check, passage[f.start : f.end]))
            for passage in context
            for f in detect(passage, self._sensitive)
        }
        decided: list[tuple[Finding, int]] = []
        for finding in without_overlaps([*detect(text, self._sensitive), *links(text)]):
            value = text[finding.start : finding.end]
            grounded = finding.check.split(".", 1)[0] in _GROUNDABLE and (
                (finding.check, fingerprint(finding.check, value)) in known
                or any(value in passage for passage in context)
            )
            if grounded:
                decided.append((replace(finding, reason=f"{finding.reason} that occurs in the context passages"), ALLOW))
            else:
                decided.append((finding, policy.action(Screen.OUTPUT, finding.check)))
        return _result(text, decided)


def _result(text: str, decided: list[tuple[Finding, int]], suspected_injection: bool = False) -> ScreenResult:
    verdicts = _verdicts(decided)
    if any(verdict.action == BLOCK for verdict in verdicts):
        return ScreenResult("", verdicts, suspected_injection)
    redacted = redact(text, without_overlaps(finding for finding, action in decided if action == REDACT))
    return ScreenResult(redacted, verdicts, suspected_injection)


def _verdicts(decided: Iterable[tuple[Finding, int]]) -> tuple[Verdict, ...]:
    """One verdict per check, action and kind of finding, however many times it matched.

    A document with a thousand email addresses yields one verdict (and one
    audit record), not a thousand; the count is in the reason.
    """
    groups: dict[tuple[str, int, str], list[Finding]] = {}
    for finding, action in decided:
        groups.setdefault((finding.check, action, finding.reason), []).append(finding)
    return tuple(
        Verdict(
            check, action, max(f.score for f in findings), f"{reason}: {len(findings)} found, {_ACTION_WORDS[action]}"
        )
        for (check, action, reason), findings in groups.items()
    )
