"""The three screens: documents at ingest, questions before retrieval, answers before the caller.

Every screen reads the normalized views of its text (normalization.py), so
obfuscation does not hide a finding, and maps each finding back onto the
text as sent, so a redaction replaces exactly the characters that hold it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Sequence

from services.guardrail import classifier as injection_classifier
from services.guardrail.classifier import InjectionClassifier
from services.guardrail.findings import Detector, Finding, detect, without_overlaps
from services.guardrail.grounding import PassageIndex, assess, content_words, sentences
from services.guardrail.injection import INJECTION_DETECTORS
from services.guardrail.links import LinkFilter
from services.guardrail.normalization import TextView, canonical, detection_views
from services.guardrail.policy import ALLOW, BLOCK, REDACT, TREATMENTS, Policy, Screen, Treatment
from services.guardrail.redaction import redact
from services.guardrail.replacements import Pseudonymizer, masked
from services.guardrail.sensitive import SENSITIVE_DETECTORS, fingerprint

_ACTION_WORDS = {"allow": "allowed", "flag": "flagged", "redact": "redacted", "mask": "masked", "hash": "hashed", "block": "blocked"}
# Categories whose values in an answer are no leak when the context passages hold them.
_GROUNDABLE = ("pii", "secret")
RELAYED_REMOVED = "[removed: it repeated an instruction found in a document]"
UNSUPPORTED_REMOVED = "[removed: not supported by the sources]"
_RULES_ONLY_VIEWS = frozenset({"leetspeak", "letter spacing"})
# An answer sentence sharing this much of its content with an injected passage span repeats it.
_RELAYED_OVERLAP = 0.6


@dataclass(frozen=True)
class Verdict:
    check: str
    action: int
    score: float
    # Never contains the matched text.
    reason: str
    # The policy's treatment: "redact", "mask" and "hash" are all ACTION_REDACT on the wire.
    treatment: str = ""


@dataclass(frozen=True)
class ScreenResult:
    # The text to use downstream; empty when the screen blocked it.
    text: str
    verdicts: tuple[Verdict, ...]
    suspected_injection: bool = False

    @property
    def allowed(self) -> bool:
        return all(verdict.action != BLOCK for verdict in self.verdicts)


@functools.lru_cache(maxsize=1)
def shipped_classifier() -> InjectionClassifier:
    return InjectionClassifier.load()


class Screener:
    def __init__(
        self,
        sensitive: Sequence[Detector] = SENSITIVE_DETECTORS,
        injection: Sequence[Detector] = INJECTION_DETECTORS,
        classifier: InjectionClassifier | None = None,
        pseudonymizer: Callable[[], Callable[[Finding, str], str]] = Pseudonymizer.from_env,
        canary: str = "",
    ):
        self._sensitive = tuple(sensitive)
        self._classifier = classifier if classifier is not None else shipped_classifier()
        self._rules = tuple(injection)
        self._injection = (*injection, self._classifier)
        self._pseudonymizer_factory = functools.lru_cache(maxsize=1)(pseudonymizer)
        self._canary = canary.strip()
        self._passage_injections = functools.lru_cache(maxsize=2048)(self._find_injections)

    @property
    def classifier_version(self) -> str:
        return self._classifier.card.version

    def screen_document(self, text: str, policy: Policy) -> ScreenResult:
        injections = self._above_threshold(self._passage_injections(text), policy, Screen.DOCUMENT)
        findings = [*self._find_sensitive(text), *injections]
        decided = [(finding, policy.treatment(Screen.DOCUMENT, finding.check)) for finding in findings]
        suspected = any(treatment.action != ALLOW for finding, treatment in decided if finding.check.startswith("injection."))
        return self._result(text, decided, suspected_injection=suspected)

    def screen_input(self, text: str, policy: Policy) -> ScreenResult:
        decided: list[tuple[Finding, Treatment]] = []
        if len(text) > policy.max_input_chars:
            reason = f"input of {len(text)} characters, over the limit of {policy.max_input_chars}"
            too_long = Finding("input.length", 0, len(text), 1.0, reason)
            decided.append((too_long, policy.treatment(Screen.INPUT, too_long.check)))
            if decided[0][1].action == BLOCK:
                # Refused anyway: scanning an oversized text would only cost time.
                return self._result(text, decided)
        injections = self._above_threshold(self._find_injections(text), policy, Screen.INPUT)
        findings = [*self._find_sensitive(text), *injections]
        decided += [(finding, policy.treatment(Screen.INPUT, finding.check)) for finding in findings]
        return self._result(text, decided)

    def screen_output(self, text: str, context: Sequence[str], policy: Policy) -> ScreenResult:
        if len(text) > policy.max_output_chars:
            reason = f"answer of {len(text)} characters, over the limit of {policy.max_output_chars}"
            too_long = Finding("output.length", 0, len(text), 1.0, reason)
            treatment = policy.treatment(Screen.OUTPUT, too_long.check)
            if treatment.action == BLOCK:
                return self._result(text, [(too_long, treatment)])
        decided = [
            *self._sensitive_output(text, context, policy),
            *((finding, policy.treatment(Screen.OUTPUT, finding.check)) for finding in self._leaks(text, policy)),
            *((finding, policy.treatment(Screen.OUTPUT, finding.check)) for finding in self._relayed(text, context, policy)),
        ]
        relayed = [finding for finding, _ in decided if finding.check == "injection.relayed"]
        decided += [(finding, policy.treatment(Screen.OUTPUT, finding.check)) for finding in self._grounding(text, context, policy, relayed)]
        return self._result(text, decided)

    def _find_sensitive(self, text: str) -> list[Finding]:
        view = canonical(text)
        return without_overlaps(_mapped(finding, view) for finding in detect(view.text, self._sensitive))

    def _find_injections(self, text: str) -> tuple[Finding, ...]:
        """Injection findings over every view, once per check and span; the classifier's best window only."""
        seen: set[tuple[str, int, int]] = set()
        found: list[Finding] = []
        best_classified: Finding | None = None
        for view in detection_views(text):
            # Leetspeak and closed-up readings of honest text are odd words the classifier was not trained on:
            # only the rules read them.
            detectors = self._rules if view.transform in _RULES_ONLY_VIEWS else self._injection
            for finding in detect(view.text, detectors):
                mapped = _mapped(finding, view)
                if finding.check == injection_classifier.CHECK:
                    if best_classified is None or mapped.score > best_classified.score:
                        best_classified = mapped
                    continue
                key = (mapped.check, mapped.start, mapped.end)
                if key not in seen:
                    seen.add(key)
                    found.append(mapped)
        return tuple(found + ([best_classified] if best_classified else []))

    def _above_threshold(self, findings: Iterable[Finding], policy: Policy, screen: Screen) -> list[Finding]:
        card_threshold = self._classifier.card.threshold
        return [
            finding
            for finding in findings
            if finding.score
            >= policy.threshold(screen, finding.check, card_threshold if finding.check == injection_classifier.CHECK else 0.0)
        ]

    def _sensitive_output(self, text: str, context: Sequence[str], policy: Policy) -> list[tuple[Finding, Treatment]]:
        links = LinkFilter(policy.allows_host)
        known = {(f.check, fingerprint(f.check, passage[f.start : f.end])) for passage in context for f in self._find_sensitive(passage)}
        decided: list[tuple[Finding, Treatment]] = []
        for finding in without_overlaps([*self._find_sensitive(text), *links(text)]):
            value = text[finding.start : finding.end]
            grounded = finding.check.split(".", 1)[0] in _GROUNDABLE and (
                (finding.check, fingerprint(finding.check, value)) in known or any(value in passage for passage in context)
            )
            if grounded:
                decided.append((replace(finding, reason=f"{finding.reason} that occurs in the context passages"), TREATMENTS["allow"]))
            else:
                decided.append((finding, policy.treatment(Screen.OUTPUT, finding.check)))
        return decided

    def _leaks(self, text: str, policy: Policy) -> Iterable[Finding]:
        for marker in policy.leak_markers:
            position = text.find(marker)
            if position >= 0:
                yield Finding("leak.prompt_marker", position, position + len(marker), 1.0, "text of the model's prompt template")
        if self._canary:
            canary = self._canary.lower()
            for view in detection_views(text):
                squeezed = "".join(view.text.lower().split())
                if canary in squeezed:
                    yield Finding("leak.canary", 0, len(text), 1.0, "the system prompt's canary: the model repeated its instructions")
                    return

    def _relayed(self, text: str, context: Sequence[str], policy: Policy) -> Iterable[Finding]:
        """Answer sentences that give an instruction, or repeat one that a passage carries."""
        injected = [
            stems
            for passage in context
            # Retrieved passages are documents: judged as ingest judged them.
            for finding in self._above_threshold(self._passage_injections(passage), policy, Screen.DOCUMENT)
            if len(stems := content_words(passage[finding.start : finding.end])[0]) >= 3
        ]
        for start, end in sentences(text):
            sentence = text[start:end]
            own = self._above_threshold(
                (f for f in self._passage_injections(sentence) if f.check != injection_classifier.CHECK), policy, Screen.OUTPUT
            )
            stems = content_words(sentence)[0]
            repeats = bool(stems) and any(len(stems & span) >= _RELAYED_OVERLAP * len(stems) for span in injected)
            if own or repeats:
                reason = "answer sentence that repeats an instruction found in a retrieved document"
                yield Finding("injection.relayed", start, end, 0.9, reason, RELAYED_REMOVED)

    def _grounding(self, text: str, context: Sequence[str], policy: Policy, relayed: Sequence[Finding]) -> list[Finding]:
        if not context:
            # Nothing to ground in: the caller screens text that was not built from passages.
            return []
        settings = policy.grounding
        removed = {(finding.start, finding.end) for finding in relayed}
        judged = [s for s in assess(text, PassageIndex(context), settings.ignore_phrases) if s.judged and (s.start, s.end) not in removed]
        unsupported = [s for s in judged if s.support < settings.min_sentence_support]
        findings = [
            Finding(
                "grounding.unsupported",
                s.start,
                s.end,
                round(1.0 - s.support, 3),
                "sentence states a number that no retrieved passage contains"
                if s.unsupported_numbers
                else "sentence that no retrieved passage supports",
                UNSUPPORTED_REMOVED,
            )
            for s in unsupported
        ]
        if judged:
            supported = len(judged) - len(unsupported)
            if supported / len(judged) < settings.min_answer_support:
                reason = (
                    f"too little support in the retrieved passages: {supported} of {len(judged)} sentences supported, "
                    f"the policy requires {settings.min_answer_support:.0%}"
                )
                findings.append(Finding("grounding.insufficient", 0, len(text), round(1.0 - supported / len(judged), 3), reason))
        return findings

    def _result(self, text: str, decided: list[tuple[Finding, Treatment]], suspected_injection: bool = False) -> ScreenResult:
        verdicts = _verdicts(decided)
        if any(verdict.action == BLOCK for verdict in verdicts):
            return ScreenResult("", verdicts, suspected_injection)
        replaced = [self._replacement(finding, treatment, text) for finding, treatment in decided if treatment.action == REDACT]
        return ScreenResult(redact(text, without_overlaps(replaced)), verdicts, suspected_injection)

    def _replacement(self, finding: Finding, treatment: Treatment, text: str) -> Finding:
        value = text[finding.start : finding.end]
        if treatment.replacement == "mask" and finding.replacement is None:
            return replace(finding, replacement=masked(finding, value))
        if treatment.replacement == "hash" and finding.replacement is None:
            return replace(finding, replacement=self._pseudonymizer_factory()(finding, value))
        return finding


def _mapped(finding: Finding, view: TextView) -> Finding:
    start, end = view.original_span(finding.start, finding.end)
    reason = f"{finding.reason} (hidden by {view.transform})" if view.transform else finding.reason
    return replace(finding, start=start, end=end, reason=reason)


def _verdicts(decided: Iterable[tuple[Finding, Treatment]]) -> tuple[Verdict, ...]:
    """One verdict per check, treatment and kind of finding, however many times it matched.

    A document with a thousand email addresses yields one verdict (and one
    audit record), not a thousand; the count is in the reason.
    """
    groups: dict[tuple[str, str, str], list[Finding]] = {}
    actions: dict[str, int] = {}
    for finding, treatment in decided:
        groups.setdefault((finding.check, treatment.name, finding.reason), []).append(finding)
        actions[treatment.name] = treatment.action
    return tuple(
        Verdict(
            check,
            actions[treatment],
            max(f.score for f in findings),
            f"{reason}: {len(findings)} found, {_ACTION_WORDS[treatment]}",
            treatment,
        )
        for (check, treatment, reason), findings in groups.items()
    )
