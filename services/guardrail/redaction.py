"""Replaces found spans in a text."""

from __future__ import annotations

from typing import Iterable

from services.guardrail.findings import Finding


def redact(text: str, findings: Iterable[Finding]) -> str:
    """The text with every finding's span replaced; the findings must not overlap."""
    parts: list[str] = []
    position = 0
    for finding in sorted(findings, key=lambda f: f.start):
        if finding.start < position:
            raise ValueError(f"overlapping findings at {finding.start}: resolve them with without_overlaps() first")
        parts.append(text[position : finding.start])
        parts.append(finding.replacement if finding.replacement is not None else f"[REDACTED:{finding.label}]")
        position = finding.end
    parts.append(text[position:])
    return "".join(parts)
