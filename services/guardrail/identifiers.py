"""National identifiers and IP addresses, each with the check that tells it from a look-alike number."""

from __future__ import annotations

import ipaddress
import re
from typing import Iterator

from services.guardrail.findings import Finding

# US Social Security number, dashed; area 000, 666 and 9xx, group 00 and serial 0000 are never issued.
_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])")
# UK National Insurance number; BG, GB, NK, KN, TN, NT and ZZ are not allocated.
_NINO = re.compile(r"(?<![A-Za-z0-9])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])")
# Spanish DNI (8 digits and a check letter) and NIE (X, Y or Z, 7 digits, check letter).
_DNI = re.compile(r"(?<![A-Za-z0-9])(?P<prefix>[XYZ]-?)?(?P<number>\d{7,8})-?(?P<letter>[A-Z])(?![A-Za-z0-9])")
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
# French social security number (NIR): sex, year, month, department, commune, order, and a mod-97 key.
_NIR = re.compile(
    r"(?<![\w])(?P<body>[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3}) ?(?P<key>\d{2})(?![\w])"
)
# German tax id (Steuer-ID): 11 digits with an ISO 7064 check digit, only next to a word that names it,
# since any 11-digit number passes the check one time in ten.
_STEUER_ID = re.compile(
    r"(?:Steuer-?ID|Steuer-?Identifikationsnummer|Identifikationsnummer|IdNr\.?|TIN|tax\s+id)\D{0,20}?(?P<id>[1-9](?: ?\d){10})(?!\d)",
    re.IGNORECASE,
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|\.\d)")
_VERSION_BEFORE = re.compile(r"\b(?:version|ver\.?|release|build|firmware|v)\s*$", re.IGNORECASE)
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def _dni_valid(match: re.Match[str]) -> bool:
    prefix = (match.group("prefix") or "").rstrip("-")
    number = match.group("number")
    if prefix:
        if len(number) != 7:
            return False
        number = str("XYZ".index(prefix)) + number
    elif len(number) != 8:
        return False
    return _DNI_LETTERS[int(number) % 23] == match.group("letter")


def _nir_valid(body: str, key: str) -> bool:
    digits = body.replace(" ", "").replace("2A", "19").replace("2B", "18")
    return 97 - int(digits) % 97 == int(key)


def _steuer_id_valid(digits: str) -> bool:
    # ISO 7064 MOD 11,10; one digit repeats two or three times among the first ten.
    counts = [digits[:10].count(d) for d in set(digits[:10])]
    if max(counts) not in (2, 3):
        return False
    product = 10
    for char in digits[:10]:
        total = (int(char) + product) % 10 or 10
        product = (total * 2) % 11
    return (11 - product) % 10 == int(digits[10])


def find_national_ids(text: str) -> Iterator[Finding]:
    for match in _SSN.finditer(text):
        yield Finding("pii.national_id", match.start(), match.end(), 0.85, "US Social Security number")
    for match in _NINO.finditer(text):
        yield Finding("pii.national_id", match.start(), match.end(), 0.85, "UK National Insurance number")
    for match in _DNI.finditer(text):
        if _dni_valid(match):
            yield Finding("pii.national_id", match.start(), match.end(), 0.95, "Spanish DNI/NIE (check letter valid)")
    for match in _NIR.finditer(text):
        if _nir_valid(match.group("body"), match.group("key")):
            yield Finding("pii.national_id", match.start(), match.end(), 0.95, "French social security number (key valid)")
    for match in _STEUER_ID.finditer(text):
        digits = match.group("id").replace(" ", "")
        if _steuer_id_valid(digits):
            yield Finding("pii.national_id", match.start("id"), match.end("id"), 0.9, "German tax id (check digit valid)")


def find_ip_addresses(text: str) -> Iterator[Finding]:
    for match in _IPV4.finditer(text):
        if _VERSION_BEFORE.search(text, max(0, match.start() - 12), match.start()):
            continue
        try:
            ipaddress.IPv4Address(match.group())
        except ValueError:
            continue
        yield Finding("pii.ip_address", match.start(), match.end(), 0.8, "IP address")
    for match in _IPV6.finditer(text):
        candidate = match.group()
        # Times (10:30:00) and MAC-like runs are not addresses; a real one has hex groups and parses.
        if candidate.count(":") < 2 or not re.search(r"[0-9A-Fa-f]{3,}", candidate):
            continue
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        yield Finding("pii.ip_address", match.start(), match.end(), 0.8, "IP address")
