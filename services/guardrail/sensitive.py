"""Detectors for personal data and secrets, and the list of all of them.

Patterns find candidates; checksums and shape rules then throw out the look-
alikes (years, versions, dates, IP addresses, order numbers), because a
guardrail that redacts every number is switched off by its users. National
identifiers and IP addresses are in identifiers.py, names and addresses in
people.py, the vendor token formats of detect-secrets in credentials.py.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Iterator

from services.guardrail.credentials import find_secret_assignments, find_vendor_tokens
from services.guardrail.findings import Detector, Finding
from services.guardrail.identifiers import find_ip_addresses, find_national_ids
from services.guardrail.people import find_addresses, find_person_names

_EMAIL = re.compile(
    r"(?<![\w.%+/-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
    # Not an SSH remote such as git@github.com:org/repo.git.
    r"(?![\w-]|:[\w~/])"
)


# user:password@host in a URL is a credential (find_secrets), not an email address.
_URL_USERINFO = re.compile(r"://[^/\s:@]*:$")


def find_emails(text: str) -> Iterator[Finding]:
    for match in _EMAIL.finditer(text):
        if _URL_USERINFO.search(text, max(0, match.start() - 256), match.start()):
            continue
        yield Finding("pii.email", match.start(), match.end(), 0.95, "email address")


# Candidates only: the shape rules below decide. Lookbehinds keep a match from
# starting inside a longer number ("4111 1111 ..." must not yield "1111 1111 ...").
_INTERNATIONAL_PHONE = re.compile(r"(?<![\w+])(?<!\d[ .-])(?:\+|00)\d[\d ().-]{5,22}\d(?![\w/]|[.-]?\d)")
_NATIONAL_PHONE = re.compile(r"(?<![\w.+/-])(?<!\d[ .-])(?:\(\d{2,5}\)|\d)[\d ().-]{6,16}\d(?![\w/]|[.-]?\d)")
_PHONE_GROUPS = re.compile(r"\d+")
_DATE = re.compile(
    r"(?:19|20)\d\d[-./](?:0?[1-9]|1[0-2])[-./](?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])[-./](?:0?[1-9]|1[0-2])[-./](?:19|20)\d\d"
)
_NANP = re.compile(r"(?:1[ .-]?)?(?:\([2-9]\d\d\) ?|[2-9]\d\d[ .-]?)\d{3}[ .-]\d{4}")
_DOUBLED_SEPARATOR = re.compile(r"[ .-]{2}|\(\s*\)|[.-]\(")


def _phone_shaped(candidate: str, international: bool) -> bool:
    if _DOUBLED_SEPARATOR.search(candidate) or candidate.count("(") != candidate.count(")"):
        return False
    if _DATE.search(candidate):
        return False
    groups = _PHONE_GROUPS.findall(candidate)
    digits = sum(len(group) for group in groups)
    if len(groups) < 2:
        return False
    if international:
        # E.164: at most 15 digits with the country code.
        return 8 <= digits <= 15
    # Without a country code only two shapes are specific enough: the North
    # American 555-123-4567 and a national number with its trunk prefix 0
    # ("030 1234567", "020 7946 0958", "01 23 45 67 89"). Lists of numbers,
    # years, versions and IP addresses have neither.
    if _NANP.fullmatch(candidate):
        return True
    return candidate.lstrip("(").startswith("0") and 9 <= digits <= 12 and len(groups) <= 5


def find_phone_numbers(text: str) -> Iterator[Finding]:
    seen: set[int] = set()
    for pattern, international, score in ((_INTERNATIONAL_PHONE, True, 0.9), (_NATIONAL_PHONE, False, 0.75)):
        for match in pattern.finditer(text):
            if match.start() not in seen and _phone_shaped(match.group(), international):
                seen.add(match.start())
                yield Finding("pii.phone", match.start(), match.end(), score, "phone number")


_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){11,18}(?![\w-])")

# (prefixes, allowed lengths) of the card networks whose numbers matter in practice.
_CARD_NETWORKS: tuple[tuple[tuple[str, ...], range | tuple[int, ...]], ...] = (
    (("4",), (13, 16, 19)),
    (tuple(str(p) for p in range(51, 56)) + tuple(str(p) for p in range(2221, 2721)), (16,)),
    (("34", "37"), (15,)),
    (("6011", "65") + tuple(str(p) for p in range(644, 650)), range(16, 20)),
    (tuple(str(p) for p in range(3528, 3590)), range(16, 20)),
    (("36", "38", "39") + tuple(str(p) for p in range(300, 306)), range(14, 20)),
    (("62",), range(16, 20)),
    (("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763"), range(12, 20)),
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_network_known(digits: str) -> bool:
    return any(digits.startswith(prefixes) and len(digits) in lengths for prefixes, lengths in _CARD_NETWORKS)


def find_payment_cards(text: str) -> Iterator[Finding]:
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if _card_network_known(digits) and luhn_valid(digits):
            yield Finding("pii.payment_card", match.start(), match.end(), 0.99, "payment card number (Luhn-valid)")


# IBAN length per country (ISO 13616 registry, the countries in use by SEPA and its neighbours and more).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "BY": 28,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19,
    "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d\d(?: ?[A-Z0-9]){11,30}")


def iban_valid(iban: str) -> bool:
    """Country length and the ISO 7064 mod-97 check of a compact, upper-case IBAN."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def find_ibans(text: str) -> Iterator[Finding]:
    position = 0
    while match := _IBAN.search(text, position):
        # The pattern may run on into the next upper-case words; cut at the country's length and
        # search on from there, since another IBAN may start inside the overlong candidate.
        position = match.start() + 1
        length = IBAN_LENGTHS.get(match.group()[:2])
        if length is None:
            continue
        compact, end = "", match.start()
        for offset, char in enumerate(match.group()):
            if char != " ":
                compact += char
                if len(compact) == length:
                    end = match.start() + offset + 1
                    break
        if len(compact) != length or (end < len(text) and text[end].isalnum()):
            continue
        if iban_valid(compact):
            position = end
            yield Finding("pii.iban", match.start(), end, 0.99, "IBAN (mod-97 valid)")


_AWS_ACCESS_KEY = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])")
_API_KEY = re.compile(
    r"""(?<![\w-])(?:
        sk-(?:proj-|svcacct-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{20,}   # OpenAI, Anthropic
      | (?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}                     # Stripe secret and restricted keys
      | gh[pousr]_[A-Za-z0-9]{36,}                                   # GitHub tokens
      | github_pat_[A-Za-z0-9_]{40,}
      | xox[abposr]-[A-Za-z0-9-]{10,}                                # Slack
      | AIza[0-9A-Za-z_-]{35}                                        # Google API keys
      | glpat-[A-Za-z0-9_-]{20,}                                     # GitLab
    )(?![\w-])""",
    re.VERBOSE,
)
_PRIVATE_KEY = re.compile(
    # An unterminated block (a truncated paste) is redacted to the end: the key is in there.
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*(?![\w-])")
_PASSWORD = re.compile(
    r"""(?<![A-Za-z])(?:password|passwd|passphrase|pwd)["']?[ \t]*(?P<separator>[:=])[ \t]*
        (?:"(?P<double>[^"\n]+)"|'(?P<single>[^'\n]+)'|(?P<bare>[^\s"',;]+))""",
    re.VERBOSE | re.IGNORECASE,
)
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s:@]+:(?P<password>[^/\s@]+)@")
_PLACEHOLDER = re.compile(r"[$<{%=]|[*x.•]+$", re.IGNORECASE)
# `password = get_password()`, `pwd=settings.db.password`: code that reads a secret, not the secret.
_CODE_EXPRESSION = re.compile(r"[\w.]*[(\[]|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$")


def find_secrets(text: str) -> Iterator[Finding]:
    for match in _AWS_ACCESS_KEY.finditer(text):
        yield Finding("secret.aws_access_key", match.start(), match.end(), 0.95, "AWS access key id")
    for match in _API_KEY.finditer(text):
        yield Finding("secret.api_key", match.start(), match.end(), 0.9, "API key or token")
    for match in _PRIVATE_KEY.finditer(text):
        yield Finding("secret.private_key", match.start(), match.end(), 0.99, "PEM private key block")
    for match in _JWT.finditer(text):
        if _jwt_header_valid(match.group()):
            yield Finding("secret.jwt", match.start(), match.end(), 0.95, "JSON Web Token")
    for match in _PASSWORD.finditer(text):
        group = next(name for name in ("double", "single", "bare") if match.group(name) is not None)
        value = match.group(group)
        if _PLACEHOLDER.match(value):
            continue
        if group == "bare" and _CODE_EXPRESSION.match(value):
            continue
        # "Password: required" is prose; "password: hunter2", "pwd=secret" and quoted values are credentials.
        if group == "bare" and match.group("separator") == ":" and value.isalpha():
            continue
        yield Finding("secret.password", match.start(group), match.end(group), 0.85, "password assignment")
    for match in _URL_CREDENTIALS.finditer(text):
        yield Finding("secret.password", match.start("password"), match.end("password"), 0.9, "password in a URL")


def _jwt_header_valid(token: str) -> bool:
    header = token.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(decoded, dict) and "alg" in decoded


SENSITIVE_DETECTORS: tuple[Detector, ...] = (
    find_emails,
    find_phone_numbers,
    find_payment_cards,
    find_ibans,
    find_national_ids,
    find_ip_addresses,
    find_person_names,
    find_addresses,
    find_secrets,
    find_vendor_tokens,
    find_secret_assignments,
)


def fingerprint(check: str, value: str) -> str:
    """A form of a matched value that survives reformatting, to compare output against context."""
    if check in ("pii.phone", "pii.payment_card", "pii.iban"):
        return re.sub(r"[^0-9A-Za-z]", "", value).upper()
    if check == "pii.email":
        return value.lower()
    return value
