"""What a principal may read, as a Milvus filter expression.

The filter is built from the verified principal only; request fields can add
an AND on top of it and nothing else. Every value enters an expression through
`quote()`, never by string formatting.

A row's access list is matched through `readers`, one string of reader tokens
(docs/adr/0013): a LIKE on a string column is evaluated vectorized, where
`array_contains_any` makes milvus-lite test every row in Python (seconds per
search at 100,000 chunks).
"""

from __future__ import annotations

import base64
import hashlib
import json
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Sequence

from ragline.auth import Principal


class UnquotableValue(ValueError):
    """A value no filter expression can carry safely."""


def quote(value: str) -> str:
    """A string literal for a Milvus filter expression.

    json.dumps escapes only `"` and `\\` once control characters are excluded,
    and both Milvus and milvus-lite read those two escapes the same way;
    control characters would need escapes milvus-lite does not read, and never
    belong in an id, so they are refused rather than guessed at.
    """
    if any(unicodedata.category(character) == "Cc" for character in value):
        raise UnquotableValue(f"{value!r} contains a control character")
    return json.dumps(value, ensure_ascii=False)


def quote_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(quote(value) for value in values) + "]"


USER, GROUP = "u", "g"


def reader_token(kind: str, value: str) -> str:
    """A kind letter and the first 128 bits of the value's SHA-256 in lower-case
    base32: a fixed length, and only [a-z2-7], so no value can bring a LIKE
    wildcard (`%`, `_`), an escape or a space into the pattern that matches it."""
    digest = hashlib.sha256(value.encode()).digest()[:16]
    return kind + base64.b32encode(digest).decode().rstrip("=").lower()


def readers(users: Sequence[str], groups: Sequence[str]) -> str:
    """The `readers` field of a row: every token between spaces; an empty
    access list gives a string no pattern matches."""
    tokens = [reader_token(USER, user) for user in users] + [reader_token(GROUP, group) for group in groups]
    return " " + " ".join(tokens) + " "


@dataclass(frozen=True)
class AccessFilter:
    """The rows a principal may read: its tenant, at or below its clearance,
    and naming its subject or one of its groups in the row's access list."""

    tenant: str
    subject: str
    groups: tuple[str, ...]
    clearance: int

    @classmethod
    def of(cls, principal: Principal | None) -> AccessFilter | None:
        """The principal's filter, or None when it may read nothing (fail closed)."""
        if principal is None or not principal.tenant or not principal.subject or principal.clearance <= 0:
            return None
        try:
            quote(principal.tenant)
            quote(principal.subject)
        except UnquotableValue:
            return None
        # Dropping a group only ever narrows access; an empty group name would
        # match a row whose access list holds an empty entry.
        groups = tuple(sorted({group for group in principal.groups if group and _quotable(group)}))
        return cls(principal.tenant, principal.subject, groups, principal.clearance)

    def expression(self, document_ids: Sequence[str] = (), *, by_tokens: bool = True) -> str:
        """The filter, narrowed to `document_ids` when given. `by_tokens=False`
        matches the access arrays instead, for a collection made before `readers`.

        Raises UnquotableValue rather than drop a document id: dropping every
        id would silently turn a narrowed search into an unnarrowed one.
        """
        if by_tokens:
            tokens = [reader_token(USER, self.subject), *(reader_token(GROUP, group) for group in self.groups)]
            readable = " or ".join(f"readers like {quote(f'% {token} %')}" for token in tokens)
        else:
            readable = f"array_contains_any(access_users, {quote_list([self.subject])})"
            if self.groups:
                readable += f" or array_contains_any(access_groups, {quote_list(self.groups)})"
        expression = f"tenant == {quote(self.tenant)} and sensitivity <= {int(self.clearance)} and ({readable})"
        if document_ids:
            expression = f"({expression}) and document_id in {quote_list(document_ids)}"
        return expression


def _quotable(value: str) -> bool:
    try:
        quote(value)
    except UnquotableValue:
        return False
    return True
