"""A last line of defence: secrets and personal data in an event's details never reach the log.

Services already keep raw values out of what they audit (the guardrail's
verdict reasons never hold the matched text), but an error message can carry a
connection string, a header, a token. The log is append-only and exported to
SIEMs, so whatever is stored stays. Before an event is hashed and stored, each
details value is scrubbed:

- a value whose key names a secret (`password`, `client_secret`,
  `access_token`, ...) is withheld whole: `[REDACTED:FIELD]`;
- elsewhere, what the patterns find becomes `[REDACTED:<KIND>]`, the format
  the guardrail uses. A pattern with a group named `value` replaces only
  that group, so "password=hunter2" keeps its "password=".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import partial

from ragline.config import ConfigError, env_str
from ragline.v1 import audit_pb2

PATTERNS = {
    "EMAIL": r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}\b",
    "JWT": r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
    "BEARER": r"(?i)\bbearer\s+(?P<value>[A-Za-z0-9._~+/=-]{12,})",
    "AWS_ACCESS_KEY": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "API_KEY": (
        r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}"
        r"|xox[abposr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,}|[sr]k_live_[A-Za-z0-9]{20,})"
    ),
    "PRIVATE_KEY": r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
    "PASSWORD": (
        r"(?i)(?:(?<![a-z0-9])(?:password|passwd|pwd|secret|token|api[_-]?key)(?![a-z0-9])[\"']?\s*[:=]\s*[\"']?"
        r"|://[^/\s:@]+:)(?P<value>[^\s\"'&;,@/]+)"
    ),
}

SECRET_KEYS = ("password", "passwd", "secret", "token", "api_key", "apikey", "authorization", "cookie", "credentials")


@dataclass(frozen=True)
class DetailsScrubber:
    patterns: tuple[tuple[str, re.Pattern[str]], ...]
    secret_keys: tuple[str, ...]

    @classmethod
    def default(cls) -> "DetailsScrubber":
        return cls(tuple((name, re.compile(regex)) for name, regex in PATTERNS.items()), SECRET_KEYS)

    @classmethod
    def from_env(cls) -> "DetailsScrubber":
        enabled = [
            name.strip().upper() for name in env_str("RAGLINE_AUDIT_REDACT_PATTERNS", ",".join(PATTERNS)).split(",")
        ]
        unknown = [name for name in enabled if name and name not in PATTERNS]
        if unknown:
            raise ConfigError(f"RAGLINE_AUDIT_REDACT_PATTERNS: unknown {unknown}; known: {', '.join(PATTERNS)}")
        patterns = {name: PATTERNS[name] for name in enabled if name}
        patterns.update(_extra_patterns(env_str("RAGLINE_AUDIT_REDACT_EXTRA", "{}")))
        compiled = []
        for name, regex in patterns.items():
            try:
                compiled.append((name, re.compile(regex)))
            except re.error as error:
                raise ConfigError(f"RAGLINE_AUDIT_REDACT_EXTRA: pattern {name} is not a valid regex: {error}") from None
        keys = env_str("RAGLINE_AUDIT_REDACT_KEYS", ",".join(SECRET_KEYS))
        return cls(tuple(compiled), tuple(key.strip().lower() for key in keys.split(",") if key.strip()))

    def scrub(self, event: audit_pb2.AuditEvent) -> tuple[audit_pb2.AuditEvent, list[str]]:
        """The event with its details scrubbed (the same object when nothing was found), and the kinds found."""
        changes: dict[str, str] = {}
        kinds: list[str] = []
        for key, value in event.details.items():
            if self._names_a_secret(key):
                scrubbed, found = ("[REDACTED:FIELD]", ["FIELD"]) if value else (value, [])
            else:
                scrubbed, found = self._scrub_text(value)
            if found:
                changes[key] = scrubbed
                kinds += [kind for kind in found if kind not in kinds]
        if not changes:
            return event, []
        copy = audit_pb2.AuditEvent()
        copy.CopyFrom(event)
        copy.details.update(changes)
        return copy, kinds

    def _names_a_secret(self, key: str) -> bool:
        key = key.lower()
        return any(key == name or key.endswith(("_" + name, "-" + name, "." + name)) for name in self.secret_keys)

    def _scrub_text(self, text: str) -> tuple[str, list[str]]:
        found = []
        for name, pattern in self.patterns:
            text, count = pattern.subn(partial(_redacted, name), text)
            if count:
                found.append(name)
        return text, found


def _redacted(kind: str, match: re.Match[str]) -> str:
    placeholder = f"[REDACTED:{kind}]"
    if "value" not in match.re.groupindex:
        return placeholder
    start, end = match.start("value") - match.start(), match.end("value") - match.start()
    return match.group()[:start] + placeholder + match.group()[end:]


def _extra_patterns(raw: str) -> dict[str, str]:
    try:
        extra = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigError(f'RAGLINE_AUDIT_REDACT_EXTRA is not JSON ({error}): use {{"KIND": "regex", ...}}') from None
    if not isinstance(extra, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items()):
        raise ConfigError('RAGLINE_AUDIT_REDACT_EXTRA must be a JSON object of names to regexes: {"KIND": "regex"}')
    return {name.upper(): regex for name, regex in extra.items()}
