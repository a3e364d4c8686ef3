"""What a redacted span becomes under the `mask` and `hash` treatments.

- mask keeps just enough to recognize one's own value: "j***@corp.example",
  "**** **** **** 1111", "***-***-4567".
- hash replaces a value by a keyed digest, "[EMAIL:3f9a1c2b]": the same value
  gets the same token in every document and answer, so records stay
  joinable, and without the key nobody can test a guess (an unkeyed hash of
  an email address is reversed by hashing a list of addresses).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from ragline.config import data_dir, env_str
from services.guardrail.findings import Finding
from services.guardrail.sensitive import fingerprint

_KEEP_DIGITS = 4


def masked(finding: Finding, value: str) -> str:
    if finding.check == "pii.email" and "@" in value:
        local, domain = value.split("@", 1)
        return f"{local[:1]}***@{domain}"
    digits = sum(char.isdigit() for char in value)
    if digits >= 8:
        # Keep the separators and the last digits: "4111 1111 1111 1111" -> "**** **** **** 1111".
        remaining = digits - _KEEP_DIGITS
        out = []
        for char in value:
            if char.isdigit() and remaining > 0:
                out.append("*")
                remaining -= 1
            elif char.isalnum() and remaining > 0:
                out.append("*")
            else:
                out.append(char)
        return "".join(out)
    return value[:1] + "*" * min(8, max(3, len(value) - 1))


class Pseudonymizer:
    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ValueError("the hash key must be at least 16 bytes")
        self._key = key

    def __call__(self, finding: Finding, value: str) -> str:
        digest = hmac.new(self._key, fingerprint(finding.check, value).encode("utf-8"), hashlib.sha256).hexdigest()
        return f"[{finding.label}:{digest[:8]}]"

    @classmethod
    def from_env(cls) -> "Pseudonymizer":
        """The key from RAGLINE_GUARDRAIL_HASH_KEY_PATH, created on first use (development)."""
        path = Path(env_str("RAGLINE_GUARDRAIL_HASH_KEY_PATH", str(data_dir() / "keys" / "guardrail-hash.key")))
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_hex(32))
        return cls(bytes.fromhex(re.sub(r"\s", "", path.read_text())))
