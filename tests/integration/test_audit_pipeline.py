"""The audit consumer against the real broker: events from the topic land in the hash-chained log with their
secrets scrubbed, a poison message does not stop consuming, and a burst of answers raises an
alert that travels back through the topic into the log; after a restart the baseline is rebuilt from the log."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from ragline.kafka import EventConsumer, EventProducer, per_event
from ragline.v1 import audit_pb2, common_pb2
from services.audit.anomaly import ALERT_ACTION, AnomalySettings, UsageAnomalyDetector
from services.audit.recorder import AuditRecorder
from services.audit.redaction import DetailsScrubber
from services.audit.store import AuditQuery, SqliteAuditStore

pytestmark = pytest.mark.integration

MINUTE = 60_000_000_000
# Synthetic event time, on a minute boundary, far from the wall clock: windows follow the events.
T0 = 1_800_000_000_000_000_000
SETTINGS = AnomalySettings(warmup_windows=2, min_requests=10, history_s=10**9)


def answer(minute: int, index: int, details: dict[str, str] | None = None) -> audit_pb2.AuditEvent:
    occurred = Timestamp()
    occurred.FromNanoseconds(T0 + minute * MINUTE + index * 1_000_000_000)
    return audit_pb2.AuditEvent(
        header=common_pb2.EventHeader(event_id=uuid.uuid4().hex, tenant="acme", producer="test"),
        action="answer",
        principal="alice",
        outcome="ok",
        document_ids=["doc-1"],
        trace_id=uuid.uuid4().hex,
        details=details or {},
        occurred_at=occurred,
    )


class AuditConsumer:
    """The audit service's consuming half, as its __main__ wires it, on a test topic."""

    def __init__(self, topic: str, group: str, store: SqliteAuditStore):
        self.producer = EventProducer("audit-test")
        self.consumer = EventConsumer("audit-test", group, [topic], self.producer)
        detector = UsageAnomalyDetector(SETTINGS)
        detector.rebuild((r.event, r.occurred_at_ns) for r in store.recent(0, SETTINGS.actions))
        recorder = AuditRecorder(
            store, DetailsScrubber.default(), detector, lambda alert: self.producer.publish(topic, "acme", alert)
        )
        self.thread = threading.Thread(
            target=self.consumer.run, args=(per_event(recorder.handle, self.consumer), 50, 0.1)
        )
        self.thread.start()

    def stop(self) -> None:
        self.consumer.stop()
        self.thread.join(30)
        self.producer.flush()


def wait_for(condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.fixture
def store(tmp_path):
    store = SqliteAuditStore(tmp_path / "audit.db")
    yield store
    store.close()


def test_events_are_chained_scrubbed_and_a_burst_alert_comes_back_through_the_topic(topic, store):
    group = f"audit-test-{uuid.uuid4().hex}"
    publisher = EventProducer("test")
    audit = AuditConsumer(topic, group, store)
    try:
        for minute in range(3):
            for index in range(4):
                publisher.publish(topic, "acme", answer(minute, index))
        publisher.publish_raw(topic, b"acme", b"\xff not an audit event", {})
        publisher.publish(topic, "acme", answer(3, 0, {"error": "retry with token=abc123def456 failed"}))
        for index in range(1, 25):
            publisher.publish(topic, "acme", answer(3, index))
        publisher.flush()

        [alert] = wait_for(lambda: store.query(AuditQuery("acme", action=ALERT_ACTION)))
        assert alert.event.principal == "alice" and alert.event.outcome == "alert"
        assert alert.event.details["metric"] == "requests"
        assert (alert.event.details["observed"], alert.event.details["baseline"]) == ("20", "4.0")
        answers = wait_for(
            lambda: (found := store.query(AuditQuery("acme", action="answer"))) and len(found) == 37 and found
        )
        assert any(r.event.details.get("error") == "retry with token=[REDACTED:PASSWORD] failed" for r in answers)
        assert store.verify_chain("acme").intact
    finally:
        audit.stop()

    # Restarted: the baseline is rebuilt from the log, so the next burst is judged against it at once.
    audit = AuditConsumer(topic, group, store)
    try:
        for index in range(25):
            publisher.publish(topic, "acme", answer(4, index))
        publisher.flush()
        alerts = wait_for(
            lambda: (found := store.query(AuditQuery("acme", action=ALERT_ACTION))) and len(found) == 2 and found
        )
        assert alerts[1].event.details["window_start"] == "2027-01-15T08:04:00Z"
        assert len(store.query(AuditQuery("acme", action="answer", limit=1000))) == 62
    finally:
        audit.stop()
