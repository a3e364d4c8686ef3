"""Views of a text with obfuscation undone, each mapping its positions back to the original.

Detectors run on the views, and a finding's span is mapped back, so that a
redaction still replaces the right characters of what the caller sent.

- The canonical view: compatibility forms folded (NFKD: full-width and
  mathematical letters, ligatures, superscripts), accents and other combining
  marks dropped, zero-width and control characters removed, non-ASCII spaces
  made spaces, and look-alike Cyrillic and Greek letters folded to Latin.
  Every detector runs on it.
- Derived views, for the injection detectors only: leetspeak read as letters,
  letter-by-letter spacing ("i g n o r e") closed up, embedded base64, hex
  and percent-encoded payloads decoded, and an instruction split into string
  fragments put back together (`a = 'ign'; b = 'ore ...'; a + b`).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterator, Sequence
from urllib.parse import unquote

# Cyrillic and Greek letters that render like Latin ones. NFKD folds
# full-width and mathematical forms already; these it leaves alone.
_HOMOGLYPHS = str.maketrans(
    "аеорсухіјѕԁһԛԝɡӏԍАВЕКМНОРСТХУІЈЅԌԜ"
    "αοντιρκυχεΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"
    "ıȷℓ",
    "aeopcyxijsdhqwglgABEKMHOPCTXYIJSGW"
    "aovtipkuxeABEZHIKMNOPTYX"
    "ijl",
)
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Cf", "Cc", "Co", "Cn", "Cs"})
_KEPT_CONTROLS = frozenset("\n\t\r")


@dataclass(frozen=True)
class TextView:
    """A transformed text; `origin[i]` is the original index of `text[i]` (None: the same text)."""

    text: str
    origin: Sequence[int] | None
    original_length: int
    # What was undone, for verdict reasons: "" for the canonical view.
    transform: str = ""
    # Set for decoded payloads: every finding maps to the whole encoded run.
    fixed_span: tuple[int, int] | None = None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        if self.fixed_span is not None:
            return self.fixed_span
        if self.origin is None:
            return start, end
        if start >= len(self.origin):
            return self.original_length, self.original_length
        return self.origin[start], self.origin[max(start, end - 1)] + 1

    def derive(self, text: str, origin: Sequence[int], transform: str) -> "TextView":
        """A view of this view, with origins composed onto the original text."""
        mapped = origin if self.origin is None else [self.origin[index] for index in origin]
        return TextView(text, mapped, self.original_length, transform, self.fixed_span)


def _fold(char: str) -> str:
    folded = []
    for part in unicodedata.normalize("NFKD", char):
        if part in _KEPT_CONTROLS:
            folded.append(part)
            continue
        category = unicodedata.category(part)
        if category in _DROPPED_CATEGORIES:
            continue
        folded.append(" " if category.startswith("Z") else part)
    return "".join(folded).translate(_HOMOGLYPHS)


_PLAIN = re.compile(r"[\x20-\x7e\n\t\r]*")


def canonical(text: str) -> TextView:
    # Printable ASCII is already canonical: the common case costs one scan.
    if _PLAIN.fullmatch(text):
        return TextView(text, None, len(text))
    parts: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = char if " " <= char <= "~" else _fold(char)
        parts.append(folded)
        origin.extend([index] * len(folded))
    return TextView("".join(parts), origin, len(text))


# A token mixing letters with digits or symbols that stand for letters.
_LEET_TOKEN = re.compile(r"(?=[\w@$!|+]*[A-Za-z])(?=[\w@$!|+]*[013457@$!|])[\w@$!|+]{3,}")
_LEET = str.maketrans("0134578@$!|+", "oieastbasilt")
# A run of at least three single letters, each followed by the same separator.
_SPACED = re.compile(r"(?<![A-Za-z])(?:[A-Za-z](?P<sep>[ .\-_*/]))(?:[A-Za-z](?P=sep))+[A-Za-z](?![A-Za-z])")


# A sentence ends at punctuation followed by white space, or at a line break: dots inside
# "i.g.n.o.r.e" or "3.5" do not end one.
_SENTENCE_END = re.compile(r"[.!?]+(?=\s)|\n")


def _affected_sentences(text: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """Spans of the sentences holding a match: a rule that matches a derived view and not the
    canonical one must involve a changed token, so the rest of the text need not be read again."""
    bounds = [0, *(match.end() for match in _SENTENCE_END.finditer(text)), len(text)]
    return [(start, end) for start, end in zip(bounds, bounds[1:]) if end > start and pattern.search(text, start, end)]


def _rewritten(view: TextView, pattern: re.Pattern[str], rewrite, transform: str) -> TextView | None:
    spans = _affected_sentences(view.text, pattern)
    if not spans:
        return None
    parts: list[str] = []
    origin: list[int] = []
    for start, end in spans:
        if parts:
            parts.append("\n")
            origin.append(start)
        for piece_text, piece_origin in rewrite(view.text, start, end):
            parts.append(piece_text)
            origin.extend(piece_origin)
    return view.derive("".join(parts), origin, transform)


def _leet_pieces(text: str, start: int, end: int):
    sentence = text[start:end]
    yield _LEET_TOKEN.sub(lambda match: match.group().translate(_LEET), sentence), range(start, end)


def _closed_pieces(text: str, start: int, end: int):
    position = start
    for match in _SPACED.finditer(text, start, end):
        yield text[position : match.start()], range(position, match.start())
        indices = range(match.start(), match.end(), 2)
        yield "".join(text[index] for index in indices), indices
        position = match.end()
    yield text[position:end], range(position, end)


def leetspeak(view: TextView) -> TextView | None:
    """The sentences with leetspeak tokens, read as letters ("1gn0r3" -> "ignore"); None when there are none."""
    return _rewritten(view, _LEET_TOKEN, _leet_pieces, "leetspeak")


def closed_up(view: TextView) -> TextView | None:
    """The sentences with letter-by-letter spacing, closed up ("i g n o r e" -> "ignore"); None when there is none."""
    # Words spaced out with a wider gap between them keep that gap.
    return _rewritten(view, _SPACED, _closed_pieces, "letter spacing")


_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:(?:\\x|0x)?[0-9A-Fa-f]{2}[ :]?){8,}(?![0-9A-Fa-f])")
# A run of URL characters with at least three escapes: "ignore%20all%20previous" as well as "%69%67%6e".
_PERCENT = re.compile(r"(?<![A-Za-z0-9._~+%-])(?:[A-Za-z0-9._~+-]*%[0-9A-Fa-f]{2}){3,}[A-Za-z0-9._~+-]*")
_MAX_DECODE_DEPTH = 2


def _textual(data: bytes) -> str | None:
    """The bytes as text when they are readable UTF-8 with words in it (or another encoded run), else None."""
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(decoded) < 6:
        return None
    printable = sum(char.isprintable() or char in "\n\t" for char in decoded)
    letters = sum(char.isalpha() for char in decoded)
    if printable < 0.95 * len(decoded) or letters < 0.5 * len(decoded):
        return None
    if " " not in decoded.strip() and not (_BASE64.fullmatch(decoded) or _HEX.fullmatch(decoded)):
        return None
    return decoded


def _decode_base64(run: str) -> str | None:
    # Pure letters are words ("internationalization"), not payloads.
    if run.isalpha() and (run.islower() or run.isupper()):
        return None
    compact = run.rstrip("=")
    if len(compact) % 4 == 1:
        return None
    padded = compact + "=" * (-len(compact) % 4)
    try:
        data = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _textual(data)


def _decode_hex(run: str) -> str | None:
    digits = re.sub(r"\\x|0x|[ :]", "", run)
    if len(digits) % 2:
        return None
    return _textual(bytes.fromhex(digits))


def _decode_percent(run: str) -> str | None:
    decoded = unquote(run)
    return decoded if decoded != run and _textual(decoded.encode("utf-8")) else None


_DECODERS = ((_BASE64, _decode_base64, "base64"), (_HEX, _decode_hex, "hex"), (_PERCENT, _decode_percent, "percent-encoding"))


def decoded_payloads(view: TextView, depth: int = 0) -> Iterator[TextView]:
    """Views of the encoded runs in a view that decode to text, nested encodings included."""
    if depth >= _MAX_DECODE_DEPTH:
        return
    for pattern, decode, name in _DECODERS:
        for match in pattern.finditer(view.text):
            decoded = decode(match.group())
            if decoded is None:
                continue
            span = view.original_span(match.start(), match.end())
            transform = f"{view.transform} in {name}" if view.transform else name
            inner = canonical(decoded)
            payload = TextView(inner.text, None, len(inner.text), transform, span)
            yield payload
            yield from decoded_payloads(payload, depth + 1)


# Payload splitting: string literals bound to names, then joined with "+" ("a = 'ign'; b = 'ore'; a + b"),
# or a run of at least three quoted fragments ("'ign', 'ore your', ' rules'").
_LITERAL = r"""(?:"[^"\n]{0,200}"|'[^'\n]{0,200}')"""
_NAME = r"[A-Za-z_]\w{0,15}"
_ASSIGNMENT = re.compile(rf"\b(?P<name>{_NAME})\s*(?::=|=|\s(?:be|as)\s)\s*(?P<value>{_LITERAL})")
_TERM = rf"(?:{_LITERAL}|\b{_NAME}\b)"
_CONCATENATION = re.compile(rf"{_TERM}(?:\s*\+\s*{_TERM})+")
_FRAGMENTS = re.compile(rf"{_LITERAL}(?:\s*,\s*(?:and\s+)?{_LITERAL}){{2,}}")
_QUOTED = re.compile(_LITERAL)
_TERMS = re.compile(_TERM)


def _joined(terms: list[str], bound: dict[str, str]) -> str | None:
    parts = []
    for term in terms:
        if term[0] in "\"'":
            parts.append(term[1:-1])
        elif term in bound:
            parts.append(bound[term])
        else:
            return None
    return "".join(parts)


def reassembled(view: TextView) -> Iterator[TextView]:
    """Views of the instructions that fragments in a view spell once joined, mapped to the fragments."""
    if view.text.count('"') + view.text.count("'") < 4:
        return
    bound: dict[str, tuple[str, int]] = {}
    for match in _ASSIGNMENT.finditer(view.text):
        bound[match.group("name")] = (match.group("value")[1:-1], match.start())
    values = {name: value for name, (value, _) in bound.items()}
    for match in _CONCATENATION.finditer(view.text):
        terms = _TERMS.findall(match.group())
        names = [term for term in terms if term[0] not in "\"'"]
        joined = _joined(terms, values)
        if joined is None:
            continue
        start = min([bound[name][1] for name in names] + [match.start()])
        yield _reassembled_view(view, joined, start, match.end())
    for match in _FRAGMENTS.finditer(view.text):
        joined = "".join(literal[1:-1] for literal in _QUOTED.findall(match.group()))
        yield _reassembled_view(view, joined, match.start(), match.end())


def _reassembled_view(view: TextView, joined: str, start: int, end: int) -> TextView:
    inner = canonical(joined)
    transform = f"{view.transform} in fragments" if view.transform else "fragments"
    return TextView(inner.text, None, len(inner.text), transform, view.original_span(start, end))


def detection_views(text: str) -> list[TextView]:
    """The canonical view, then every derived view that differs from it."""
    base = canonical(text)
    views = [base]
    for view in (base, *decoded_payloads(base), *reassembled(base)):
        for derived in (leetspeak(view), closed_up(view)):
            if derived is not None:
                views.append(derived)
        if view is not base:
            views.append(view)
    return views
