"""Usage anomaly detection on synthetic streams: steady use, jitter, slow growth, idle nights and a new
principal's first minutes raise nothing; a burst of requests or of distinct documents raises an alert."""

from __future__ import annotations

import itertools
import random
import uuid

import pytest

from ragline.config import ConfigError
from ragline.v1 import audit_pb2, common_pb2
from services.audit.anomaly import (
    ALERT_ACTION,
    DISTINCT_DOCUMENTS,
    REQUESTS,
    AnomalySettings,
    UsageAlert,
    UsageAnomalyDetector,
)

T0 = 1_800_000_000_000_000_000  # ns, on a minute boundary
MINUTE = 60_000_000_000
SETTINGS = AnomalySettings()  # the defaults a deployment gets


def answer(
    principal: str, documents: list[str], trace_id: str | None = None, action: str = "answer", tenant: str = "acme"
):
    return audit_pb2.AuditEvent(
        header=common_pb2.EventHeader(event_id=uuid.uuid4().hex, tenant=tenant),
        action=action,
        principal=principal,
        document_ids=documents,
        trace_id=trace_id or uuid.uuid4().hex,
    )


class Traffic:
    """Feeds a detector minute by minute and collects the alerts."""

    def __init__(self, detector: UsageAnomalyDetector, principal: str = "alice", tenant: str = "acme"):
        self.detector = detector
        self.principal = principal
        self.tenant = tenant
        self.minute = 0
        self.alerts: list[UsageAlert] = []
        self._fresh_documents = (f"doc-new-{n}" for n in itertools.count())

    def minutes(self, requests_per_minute, documents=lambda: ["doc-1", "doc-2", "doc-3"], idle_after: int = 0):
        for count in requests_per_minute:
            for index in range(count):
                at = T0 + self.minute * MINUTE + index * (MINUTE // max(count, 1))
                event = answer(self.principal, documents(), tenant=self.tenant)
                self.alerts += self.detector.observe(event, at)
            self.minute += 1 + idle_after

    def fresh_documents(self, count: int):
        return lambda: [next(self._fresh_documents) for _ in range(count)]


@pytest.fixture
def detector() -> UsageAnomalyDetector:
    return UsageAnomalyDetector(SETTINGS)


def test_steady_use_raises_nothing(detector):
    traffic = Traffic(detector)
    traffic.minutes([12] * 240)
    assert traffic.alerts == []


def test_jittery_use_raises_nothing(detector):
    rng = random.Random(7)
    pool = [f"doc-{n}" for n in range(40)]
    traffic = Traffic(detector)
    traffic.minutes([rng.randint(2, 25) for _ in range(240)], documents=lambda: rng.sample(pool, 5))
    assert traffic.alerts == []


def test_slow_growth_raises_nothing(detector):
    traffic = Traffic(detector)
    # 5 % more every minute for two hours: from 8 to over 2,000 requests a minute.
    traffic.minutes([round(8 * 1.05**minute) for minute in range(120)])
    assert traffic.alerts == []


def test_a_new_principals_first_minutes_raise_nothing(detector):
    traffic = Traffic(detector, principal="new-hire")
    # No baseline yet: even a busy first few minutes are not compared with "nothing".
    traffic.minutes([40, 3, 60, 25, 45], documents=traffic.fresh_documents(5))
    assert traffic.alerts == []


def test_an_idle_night_does_not_make_the_morning_a_burst(detector):
    traffic = Traffic(detector)
    traffic.minutes([40] * 30)
    traffic.minutes([0] * 600)
    traffic.minutes([40] * 30)
    assert traffic.alerts == []


def test_a_request_burst_raises_one_alert_per_window(detector):
    traffic = Traffic(detector)
    traffic.minutes([10] * 60)
    traffic.minutes([400, 400, 10])
    assert [alert.metric for alert in traffic.alerts] == [REQUESTS, REQUESTS]
    first = traffic.alerts[0]
    assert (first.tenant, first.principal) == ("acme", "alice")
    assert first.baseline == pytest.approx(10.0)
    assert first.threshold == pytest.approx(50.0) and first.observed == 50
    assert first.window_start_ns == T0 + 60 * MINUTE and first.window_s == 60
    # The burst taught the baseline no more than the threshold: it is still an anomaly a minute later.
    assert traffic.alerts[1].window_start_ns == T0 + 61 * MINUTE


def test_a_small_principal_needs_the_floor_not_only_the_ratio(detector):
    traffic = Traffic(detector)
    traffic.minutes([1] * 60)
    traffic.minutes([20])  # 20 x its baseline, but fewer than 30 requests
    assert traffic.alerts == []
    traffic.minutes([35])
    assert [alert.metric for alert in traffic.alerts] == [REQUESTS]


def test_reading_many_distinct_documents_at_a_normal_rate_raises_a_document_alert(detector):
    traffic = Traffic(detector)
    traffic.minutes([10] * 60)
    traffic.minutes([10], documents=traffic.fresh_documents(10))
    assert [(alert.metric, alert.observed) for alert in traffic.alerts] == [(DISTINCT_DOCUMENTS, 50)]


def test_an_answer_and_its_search_are_one_request(detector):
    for minute in range(60):
        for index in range(10):
            trace_id = uuid.uuid4().hex
            at = T0 + minute * MINUTE + index
            for action in ("search", "answer"):
                assert detector.observe(answer("alice", ["doc-1"], trace_id, action), at) == []
    alerts = []
    for index in range(60):
        alerts += detector.observe(answer("alice", ["doc-1"]), T0 + 60 * MINUTE + index)
    assert [(alert.observed, alert.baseline) for alert in alerts] == [(50, pytest.approx(10.0))]


def test_principals_and_tenants_have_their_own_baselines(detector):
    busy = Traffic(detector, principal="batch-bot")
    quiet = Traffic(detector, principal="batch-bot", tenant="globex")
    busy.minutes([200] * 60)
    quiet.minutes([5] * 60)
    busy.minutes([200])
    quiet.minutes([200])
    assert busy.alerts == []
    assert [(alert.tenant, alert.metric) for alert in quiet.alerts] == [("globex", REQUESTS)]


def test_other_actions_are_not_counted(detector):
    for index in range(500):
        for action in ("ingest.accepted", "guardrail.verdict", ALERT_ACTION):
            assert detector.observe(answer("alice", [f"d{index}"], action=action), T0 + index) == []


def test_rebuilding_from_the_log_restores_the_baseline_without_alerting(detector):
    history = [
        (answer("alice", ["doc-1"]), T0 + minute * MINUTE + index) for minute in range(60) for index in range(10)
    ]
    history += [(answer("alice", ["doc-1"]), T0 + 60 * MINUTE + index) for index in range(100)]
    assert detector.rebuild(history) == 700
    alerts = []
    for index in range(100):
        alerts += detector.observe(answer("alice", ["doc-1"]), T0 + 61 * MINUTE + index)
    # Minute 60 (raised during the rebuild, not again) taught the baseline only up to its threshold of 50.
    assert [(alert.metric, alert.baseline) for alert in alerts] == [(REQUESTS, pytest.approx(10 + SETTINGS.alpha * 40))]


def test_an_alert_is_an_audit_event_with_an_id_per_principal_metric_and_window():
    alert = UsageAlert("acme", "alice", REQUESTS, 50, 10.0, 50.0, T0, 60, "ab" * 16)
    event = alert.to_event()
    assert (event.action, event.outcome, event.principal, event.header.tenant) == (
        ALERT_ACTION,
        "alert",
        "alice",
        "acme",
    )
    assert event.trace_id == "ab" * 16
    assert dict(event.details) == {
        "metric": "requests",
        "observed": "50",
        "baseline": "10.0",
        "threshold": "50.0",
        "window_s": "60",
        "window_start": "2027-01-15T08:00:00Z",
    }
    assert alert.to_event().header.event_id == event.header.event_id
    later = UsageAlert("acme", "alice", REQUESTS, 50, 10.0, 50.0, T0 + MINUTE, 60, "ab" * 16)
    assert later.to_event().header.event_id != event.header.event_id


def test_settings_come_from_the_environment_and_bad_values_stop_the_start(monkeypatch):
    monkeypatch.setenv("RAGLINE_AUDIT_ANOMALY_RATIO", "8")
    monkeypatch.setenv("RAGLINE_AUDIT_ANOMALY_ACTIONS", "answer, search, feedback")
    settings = AnomalySettings.from_env()
    assert settings.ratio == 8.0 and settings.actions == {"answer", "search", "feedback"}
    monkeypatch.setenv("RAGLINE_AUDIT_ANOMALY_RATIO", "0.5")
    with pytest.raises(ConfigError, match="RAGLINE_AUDIT_ANOMALY_RATIO"):
        AnomalySettings.from_env()
