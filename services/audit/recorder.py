"""Turns consumed audit events into records of the audit log, and watches usage as they pass."""

from __future__ import annotations

import logging
from typing import Callable

from opentelemetry import trace

from ragline.kafka import ReceivedEvent, RejectedEvent, TransientError
from ragline.v1 import audit_pb2
from services.audit.anomaly import UsageAnomalyDetector
from services.audit.redaction import DetailsScrubber
from services.audit.store import AuditStore, StoredRecord, StoreUnavailable

log = logging.getLogger(__name__)


def problem(event: audit_pb2.AuditEvent) -> str | None:
    """Why an event cannot enter the audit log, or None."""
    if not event.header.tenant:
        return "header.tenant is empty: every audit record belongs to one tenant's log"
    if not event.action:
        return "action is empty: say what happened"
    if not event.header.event_id:
        return "header.event_id is empty: a redelivered event could not be recognised"
    return None


class AuditRecorder:
    def __init__(
        self,
        store: AuditStore,
        scrubber: DetailsScrubber,
        detector: UsageAnomalyDetector,
        raise_alert: Callable[[audit_pb2.AuditEvent], None],
    ):
        self._store = store
        self._scrubber = scrubber
        self._detector = detector
        self._raise_alert = raise_alert

    def handle(self, received: ReceivedEvent) -> None:
        """The per-event handler for the consumer: decode, validate, scrub, append, watch."""
        record = self.record(received.decode(audit_pb2.AuditEvent))
        span = trace.get_current_span()
        if record is None:
            span.set_attribute("ragline.audit.duplicate", True)
        else:
            span.set_attribute("ragline.audit.sequence", record.sequence)

    def record(self, event: audit_pb2.AuditEvent) -> StoredRecord | None:
        """The stored record, or None for an event already in the log."""
        reason = problem(event)
        if reason:
            raise RejectedEvent("validate", reason, event.header.tenant)
        event, redacted = self._scrubber.scrub(event)
        if redacted:
            trace.get_current_span().set_attribute("ragline.audit.redacted", redacted)
        try:
            record = self._store.append(event)
        except StoreUnavailable as error:
            # Never dead-letter an audit event for a storage problem: retry until the store is back.
            raise TransientError(str(error)) from error
        if record is None:
            log.info("duplicate audit event ignored", extra={"fields": {"event_id": event.header.event_id}})
            return None
        # Only newly stored events count: a redelivered one was counted when it was stored.
        for alert in self._detector.observe(record.event, record.occurred_at_ns):
            log.warning(
                "usage anomaly",
                extra={"fields": {"tenant": alert.tenant, "principal": alert.principal, "metric": alert.metric}},
            )
            self._raise_alert(alert.to_event())
        return record
