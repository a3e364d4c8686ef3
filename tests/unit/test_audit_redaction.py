"""The defensive scrub of details values: secrets and personal data found anywhere in a value, whole values
under keys that name a secret, and the configuration that stops a bad pattern at start."""

from __future__ import annotations

import pytest

from ragline.config import ConfigError
from ragline.v1 import audit_pb2
from services.audit.redaction import DetailsScrubber

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"


def scrub(details: dict[str, str], scrubber: DetailsScrubber | None = None) -> tuple[dict[str, str], list[str]]:
    event, kinds = (scrubber or DetailsScrubber.default()).scrub(audit_pb2.AuditEvent(details=details))
    return dict(event.details), kinds


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mail bob.smith@example.co.uk now", "mail [REDACTED:EMAIL] now"),
        (f"header authorization: Bearer {JWT}", "header authorization: Bearer [REDACTED:JWT]"),
        ("Bearer 0123456789abcdefXYZ", "Bearer [REDACTED:BEARER]"),
        ("key AKIAIOSFODNN7EXAMPLE used", "key [REDACTED:AWS_ACCESS_KEY] used"),
        (
            "upstream said: invalid key sk-proj-abcdefghijklmnopqrstuvwx",
            "upstream said: invalid key [REDACTED:API_KEY]",
        ),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "[REDACTED:API_KEY]"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "[REDACTED:PRIVATE_KEY]"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEow (truncated", "[REDACTED:PRIVATE_KEY]"),
        ("connect failed: password=hunter2!", "connect failed: password=[REDACTED:PASSWORD]"),
        ('{"client_secret": "abc123xyz"}', '{"client_secret": "[REDACTED:PASSWORD]"}'),
        ("postgres://app:s3cr3t@db:5432/rag", "postgres://app:[REDACTED:PASSWORD]@db:5432/rag"),
    ],
)
def test_values_are_scrubbed_where_a_pattern_finds_something(value, expected):
    details, kinds = scrub({"error": value})
    assert details["error"] == expected
    assert kinds


@pytest.mark.parametrize(
    "value",
    [
        "extractive",
        "prompt v3 with 1,204 prompt tokens",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "email address: 3 found, redacted",
        "[{'check': 'pii.email', 'action': 'redact'}]",
        "2026-11-23T15:00:00Z",
    ],
)
def test_ordinary_values_are_kept(value):
    assert scrub({"note": value}) == ({"note": value}, [])


def test_a_value_under_a_secret_key_is_withheld_whole():
    details, kinds = scrub({"client_secret": "x", "access_token": "opaque", "password": "", "prompt_tokens": "45"})
    assert details == {
        "client_secret": "[REDACTED:FIELD]",
        "access_token": "[REDACTED:FIELD]",
        "password": "",
        "prompt_tokens": "45",
    }
    assert kinds == ["FIELD"]


def test_an_event_without_findings_is_returned_as_it_is():
    event = audit_pb2.AuditEvent(action="answer", details={"model": "extractive"})
    assert DetailsScrubber.default().scrub(event)[0] is event


def test_the_original_event_is_not_changed():
    event = audit_pb2.AuditEvent(details={"error": "bob@example.com"})
    scrubbed, _ = DetailsScrubber.default().scrub(event)
    assert event.details["error"] == "bob@example.com"
    assert scrubbed.details["error"] == "[REDACTED:EMAIL]"


def test_patterns_and_keys_are_configurable(monkeypatch):
    monkeypatch.setenv("RAGLINE_AUDIT_REDACT_PATTERNS", "jwt")
    monkeypatch.setenv("RAGLINE_AUDIT_REDACT_EXTRA", r'{"employee_id": "\\bE\\d{6}\\b"}')
    monkeypatch.setenv("RAGLINE_AUDIT_REDACT_KEYS", "pin")
    details, kinds = scrub({"who": f"E123456 bob@example.com {JWT}", "card_pin": "1234"}, DetailsScrubber.from_env())
    assert details == {"who": "[REDACTED:EMPLOYEE_ID] bob@example.com [REDACTED:JWT]", "card_pin": "[REDACTED:FIELD]"}
    assert sorted(kinds) == ["EMPLOYEE_ID", "FIELD", "JWT"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RAGLINE_AUDIT_REDACT_PATTERNS", "email,ssn", "unknown"),
        ("RAGLINE_AUDIT_REDACT_EXTRA", "[1]", "JSON object"),
        ("RAGLINE_AUDIT_REDACT_EXTRA", "{not json", "is not JSON"),
        ("RAGLINE_AUDIT_REDACT_EXTRA", '{"broken": "(unclosed"}', "not a valid regex"),
    ],
)
def test_bad_configuration_stops_the_start(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message):
        DetailsScrubber.from_env()
