"""Token formats from detect-secrets, Yelp's maintained secret scanner, as a detector.

detect-secrets knows the formats of many vendors' keys (Stripe, Twilio,
SendGrid, Mailchimp, npm, PyPI, Discord, Telegram, Azure storage, IBM Cloud,
Artifactory, Square, Slack, GitHub, GitLab, OpenAI, AWS) and keeps them up to
date, and its keyword plugin finds quoted secrets assigned to names like
`api_key` or `client_secret`. Its entropy plugins are left out: in prose they
mark ordinary words. Private keys, JWTs, URL credentials and passwords have
more precise detectors in sensitive.py.
"""

from __future__ import annotations

import re
from typing import Iterator

from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.ip_public import IPPublicDetector
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.keyword import QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP
from detect_secrets.plugins.private_key import PrivateKeyDetector

from services.guardrail.findings import Finding

_COVERED_ELSEWHERE = (BasicAuthDetector, IPPublicDetector, JwtTokenDetector, PrivateKeyDetector)


def _token_patterns() -> list[tuple[str, re.Pattern[str]]]:
    patterns = []
    for plugin in sorted(RegexBasedDetector.__subclasses__(), key=lambda cls: cls.__name__):
        if issubclass(plugin, _COVERED_ELSEWHERE):
            continue
        check = "secret.aws_access_key" if plugin.secret_type == "AWS Access Key" else "secret.api_key"
        patterns.extend((check, pattern) for pattern in plugin().denylist)
    return patterns


def _load_plugins() -> None:
    # Subclasses register themselves on import; importing the package's plugins module lists them all.
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    get_mapping_from_secret_type_to_class()


_load_plugins()
_TOKENS = _token_patterns()
_ASSIGNMENTS = tuple(QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP.items())
# Cheap gates: every token format has a run of 16 token characters, every
# assignment a secret-sounding name before "=" or ":". Prose has neither, and
# skipping the plugins' patterns keeps a screen within its latency budget.
_LONG_RUN = re.compile(r"[\w/+=.-]{16,}")
_SECRET_NAME = re.compile(r"(?:key|pass|pwd|secret|token|auth)\w*[\"'\]]*\s*(?::|=)", re.IGNORECASE)
# A group this long is the secret itself; shorter groups are a prefix or a keyword.
_SECRET_GROUP_CHARS = 16


def find_vendor_tokens(text: str) -> Iterator[Finding]:
    if not _LONG_RUN.search(text):
        return
    for check, pattern in _TOKENS:
        for match in pattern.finditer(text):
            groups = [index for index in range(1, pattern.groups + 1) if len(match.group(index) or "") >= _SECRET_GROUP_CHARS]
            start, end = match.span(groups[-1]) if groups else match.span()
            yield Finding(check, start, end, 0.9, "API key or token")


def find_secret_assignments(text: str) -> Iterator[Finding]:
    """Quoted values assigned to secret-sounding names: `api_key = "..."`, `"client_secret": "..."`."""
    if not _SECRET_NAME.search(text):
        return
    offset = 0
    spans: set[tuple[int, int]] = set()
    for line in text.splitlines(keepends=True):
        for pattern, group in _ASSIGNMENTS:
            for match in pattern.finditer(line):
                spans.add((offset + match.start(group), offset + match.end(group)))
        offset += len(line)
    for start, end in sorted(spans):
        yield Finding("secret.assignment", start, end, 0.8, "secret assigned to a name")
