"""The red-team and false-positive suite: labelled cases, with their obfuscations applied.

Each line of suite/*.jsonl is one case: `id`, `category`, `lang`, `text`, and
for answers `context` (the passages) plus what must not survive
(`must_not_contain`) or `expect_blocked`. A category starting with "benign"
holds honest texts; every other category holds attacks. `transform` names an
obfuscation applied here ("base64", "zero_width", "fullwidth", ...), so the
suite stays readable while the guardrail sees the disguised text.

The cases whose id hashes into two fifths of the hash range form the
held-out split: nothing in the guardrail was tuned on them, so their rates
show what the tuning on the dev split did not overfit. A batch written to
test a change before it is made gets held-out ids on purpose (the `*-n<NN>`
cases of issue #5), so the held-out split is now more than two fifths.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

SUITE_DIR = Path(__file__).resolve().parent / "suite"
FILES = {"input_attacks.jsonl": "input", "input_benign.jsonl": "input", "documents.jsonl": "document", "outputs.jsonl": "output"}


@dataclass(frozen=True)
class Case:
    id: str
    screen: str
    category: str
    lang: str
    text: str
    split: str
    context: tuple[str, ...] = ()
    must_not_contain: tuple[str, ...] = ()
    expect_blocked: bool = False
    transform: str = ""
    original: str = field(default="", compare=False)

    @property
    def attack(self) -> bool:
        return not self.category.startswith("benign")


_FULLWIDTH = {code: code + 0xFEE0 for code in range(0x21, 0x7F)} | {0x20: 0x3000}
_CYRILLIC = str.maketrans("aeopcxyAEOPCXH", "аеорсхуАЕОРСХН")
_LEET = str.maketrans("aeiostAEIOST", "431057431057")


def _spaced(text: str, separator: str) -> str:
    return "   ".join(separator.join(word) for word in text.split())


def obfuscate(text: str, transform: str, prefix: str = "") -> str:
    encoded = {
        "": lambda t: t,
        "base64": lambda t: base64.b64encode(t.encode()).decode(),
        "base64_twice": lambda t: base64.b64encode(base64.b64encode(t.encode())).decode(),
        "hex": lambda t: t.encode().hex(),
        "percent": lambda t: quote(t, safe=""),
        "fullwidth": lambda t: t.translate(_FULLWIDTH),
        "zero_width": lambda t: "\u200b".join(t[i : i + 2] for i in range(0, len(t), 2)),
        "homoglyph": lambda t: t.translate(_CYRILLIC),
        "leetspeak": lambda t: t.translate(_LEET),
        "letter_spacing": lambda t: _spaced(t, " "),
        "mixed_case_dots": lambda t: " ".join(".".join(c.upper() if i % 2 else c for i, c in enumerate(w)) for w in t.split()),
    }
    if transform not in encoded:
        raise ValueError(f"unknown transform {transform!r}")
    return prefix + encoded[transform](text)


def split_of(case_id: str) -> str:
    return "heldout" if zlib.crc32(case_id.encode()) % 5 < 2 else "dev"


def load(canary: str = "", directory: Path = SUITE_DIR) -> list[Case]:
    """Every case; those that need a canary are left out when none is given."""
    cases = []
    for name, screen in FILES.items():
        for number, line in enumerate((directory / name).read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            raw = json.loads(line)
            if raw.get("needs_canary"):
                if not canary:
                    continue
                spaced = " ".join(canary)
                raw["text"] = raw["text"].replace("{canary_spaced}", spaced).replace("{canary}", canary)
            cases.append(
                Case(
                    id=raw["id"],
                    screen=screen,
                    category=raw["category"],
                    lang=raw["lang"],
                    text=obfuscate(raw["text"], raw.get("transform", ""), raw.get("prefix", "")),
                    split=split_of(raw["id"]),
                    context=tuple(raw.get("context", ())),
                    must_not_contain=tuple(raw.get("must_not_contain", ())),
                    expect_blocked=bool(raw.get("expect_blocked", False)),
                    transform=raw.get("transform", ""),
                    original=raw["text"],
                )
            )
    ids = [case.id for case in cases]
    duplicates = {case_id for case_id in ids if ids.count(case_id) > 1}
    if duplicates:
        raise ValueError(f"duplicate case ids in {directory}: {sorted(duplicates)}")
    return cases
