"""The consumer's handler: invalid events go to the dead letter topic, a store outage is retried, secrets in
details are scrubbed before they are hashed, and stored answer events feed the usage anomaly detector, whose
alerts are audit events."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from ragline.kafka import RejectedEvent, TransientError
from ragline.v1 import audit_pb2, common_pb2
from services.audit.anomaly import ALERT_ACTION, AnomalySettings, UsageAnomalyDetector
from services.audit.recorder import AuditRecorder
from services.audit.redaction import DetailsScrubber
from services.audit.store import AuditQuery, SqliteAuditStore

T0 = 1_800_000_000_000_000_000  # ns, on a minute boundary
MINUTE = 60_000_000_000


def event(occurred_at_ns: int = T0, details: dict[str, str] | None = None) -> audit_pb2.AuditEvent:
    occurred = Timestamp()
    occurred.FromNanoseconds(occurred_at_ns)
    return audit_pb2.AuditEvent(
        header=common_pb2.EventHeader(event_id=uuid.uuid4().hex, tenant="acme", producer="test"),
        action="answer",
        principal="alice",
        outcome="ok",
        trace_id=uuid.uuid4().hex,
        details=details or {},
        occurred_at=occurred,
    )


@pytest.fixture
def store(tmp_path):
    store = SqliteAuditStore(tmp_path / "audit.db", busy_timeout_s=0.1)
    yield store
    store.close()


@pytest.fixture
def alerts() -> list[audit_pb2.AuditEvent]:
    return []


@pytest.fixture
def recorder(store, alerts) -> AuditRecorder:
    detector = UsageAnomalyDetector(AnomalySettings(warmup_windows=2, min_requests=5))
    return AuditRecorder(store, DetailsScrubber.default(), detector, alerts.append)


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (lambda e: e.header.ClearField("tenant"), "header.tenant is empty"),
        (lambda e: e.ClearField("action"), "action is empty"),
        (lambda e: e.header.ClearField("event_id"), "header.event_id is empty"),
    ],
)
def test_the_recorder_rejects_events_without_tenant_action_or_id(store, recorder, broken, reason):
    invalid = event()
    broken(invalid)
    with pytest.raises(RejectedEvent) as rejected:
        recorder.record(invalid)
    assert reason in rejected.value.reason
    assert store.query(AuditQuery("acme")) == []


def test_the_recorder_appends_valid_events_once(recorder):
    valid = event()
    assert recorder.record(valid).sequence == 1
    assert recorder.record(valid) is None


def test_a_locked_store_is_retried_not_dead_lettered(tmp_path, recorder):
    blocker = sqlite3.connect(tmp_path / "audit.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(TransientError, match="locked"):
            recorder.record(event())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert recorder.record(event()).sequence == 1


def test_secrets_in_details_are_scrubbed_before_they_are_stored(tmp_path, store, recorder):
    recorder.record(event(details={"error": "login as bob@example.com with password=hunter2 failed", "model": "x"}))
    [record] = store.query(AuditQuery("acme"))
    assert record.event.details["error"] == "login as [REDACTED:EMAIL] with password=[REDACTED:PASSWORD] failed"
    assert record.event.details["model"] == "x"
    raw = (tmp_path / "audit.db").read_bytes() + (tmp_path / "audit.db-wal").read_bytes()
    assert b"hunter2" not in raw and b"bob@example.com" not in raw
    assert store.verify_chain("acme").intact


def test_a_burst_of_stored_answers_raises_one_alert_event(recorder, alerts):
    for minute in range(3):
        for second in range(4):
            recorder.record(event(T0 + minute * MINUTE + second))
    assert alerts == []
    burst = [event(T0 + 3 * MINUTE + second) for second in range(30)]
    for item in burst:
        recorder.record(item)
    [alert] = alerts
    assert alert.action == ALERT_ACTION and alert.principal == "alice" and alert.header.tenant == "acme"
    assert alert.details["metric"] == "requests"
    # ratio 5 x baseline 4 = 20: the 20th distinct request crosses it.
    assert alert.details["observed"] == "20" and alert.details["baseline"] == "4.0"
