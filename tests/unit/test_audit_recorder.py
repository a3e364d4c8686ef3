"""The consumer's handler: invalid events go to the dead letter topic, a store outage is retried."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from ragline.kafka import RejectedEvent, TransientError
from ragline.v1 import audit_pb2, common_pb2
from services.audit.recorder import AuditRecorder
from services.audit.store import AuditQuery, SqliteAuditStore


def event() -> audit_pb2.AuditEvent:
    return audit_pb2.AuditEvent(
        header=common_pb2.EventHeader(event_id=uuid.uuid4().hex, tenant="acme", producer="test"),
        action="answer",
        principal="alice",
        outcome="ok",
    )


@pytest.fixture
def store(tmp_path):
    store = SqliteAuditStore(tmp_path / "audit.db", busy_timeout_s=0.1)
    yield store
    store.close()


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (lambda e: e.header.ClearField("tenant"), "header.tenant is empty"),
        (lambda e: e.ClearField("action"), "action is empty"),
        (lambda e: e.header.ClearField("event_id"), "header.event_id is empty"),
    ],
)
def test_the_recorder_rejects_events_without_tenant_action_or_id(store, broken, reason):
    invalid = event()
    broken(invalid)
    with pytest.raises(RejectedEvent) as rejected:
        AuditRecorder(store).record(invalid)
    assert reason in rejected.value.reason
    assert store.query(AuditQuery("acme")) == []


def test_the_recorder_appends_valid_events_once(store):
    recorder = AuditRecorder(store)
    valid = event()
    assert recorder.record(valid).sequence == 1
    assert recorder.record(valid) is None


def test_a_locked_store_is_retried_not_dead_lettered(tmp_path, store):
    blocker = sqlite3.connect(tmp_path / "audit.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(TransientError, match="locked"):
            AuditRecorder(store).record(event())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert AuditRecorder(store).record(event()).sequence == 1
