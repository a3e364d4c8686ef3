"""The guardrail policy: what each screen does about each check.

One `Policy` object carries everything a verdict depends on, and its version
goes into every verdict, so that an audit record says which rules decided.
Per-tenant policies later are more `Policy` objects, not new code paths.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass
from typing import Mapping

from ragline.config import ConfigError, env_int, env_str
from ragline.v1 import guardrail_pb2

ALLOW = guardrail_pb2.ACTION_ALLOW
REDACT = guardrail_pb2.ACTION_REDACT
FLAG = guardrail_pb2.ACTION_FLAG
BLOCK = guardrail_pb2.ACTION_BLOCK

# Bump with every change to the detectors or the default actions.
RULES_VERSION = "rules-2026.11.1"


class Screen(str, enum.Enum):
    DOCUMENT = "document"
    INPUT = "input"
    OUTPUT = "output"


# Keys are check names or their prefixes ("pii" covers "pii.email"); the most specific one wins.
DEFAULT_ACTIONS: Mapping[Screen, Mapping[str, int]] = {
    # Documents are stored and shown to many readers: redact; an injection attempt is only marked,
    # the text stays as written.
    Screen.DOCUMENT: {"pii": REDACT, "secret": REDACT, "injection": FLAG},
    # A person's own personal data in their question is theirs to send, but is flagged;
    # secrets never travel on to the model.
    Screen.INPUT: {"pii": FLAG, "secret": REDACT, "injection": BLOCK, "input.length": BLOCK},
    Screen.OUTPUT: {"pii": REDACT, "secret": REDACT, "link": REDACT},
}
DEFAULT_MAX_INPUT_CHARS = 4000

_HOST = re.compile(r"(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class Policy:
    version: str
    actions: Mapping[Screen, Mapping[str, int]]
    max_input_chars: int
    # "docs.example.com" allows that host; "*.example.com" allows its subdomains.
    allowed_link_hosts: frozenset[str]

    def action(self, screen: Screen, check: str) -> int:
        """The configured action for a check; an unknown check is flagged rather than ignored."""
        rules = self.actions.get(screen, {})
        name = check
        while name not in rules:
            if "." not in name:
                return FLAG
            name = name.rsplit(".", 1)[0]
        return rules[name]

    def allows_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if host in self.allowed_link_hosts:
            return True
        parts = host.split(".")
        return any("*." + ".".join(parts[index:]) in self.allowed_link_hosts for index in range(1, len(parts)))

    @classmethod
    def from_env(cls) -> "Policy":
        max_input_chars = env_int("RAGLINE_GUARDRAIL_MAX_INPUT_CHARS", DEFAULT_MAX_INPUT_CHARS, minimum=1)
        hosts = frozenset(
            entry.strip().lower().rstrip(".")
            for entry in env_str("RAGLINE_GUARDRAIL_ALLOWED_HOSTS", "").split(",")
            if entry.strip()
        )
        for host in hosts:
            if not _HOST.fullmatch(host):
                raise ConfigError(
                    f"RAGLINE_GUARDRAIL_ALLOWED_HOSTS: {host!r} is not a host name "
                    "(write docs.example.com or *.example.com, without scheme or path)"
                )
        version = RULES_VERSION
        if max_input_chars != DEFAULT_MAX_INPUT_CHARS or hosts:
            # Local settings change verdicts too: the version names them by digest.
            settings = f"{max_input_chars}|{','.join(sorted(hosts))}"
            version += "+" + hashlib.sha256(settings.encode()).hexdigest()[:8]
        return cls(version, DEFAULT_ACTIONS, max_input_chars, hosts)
