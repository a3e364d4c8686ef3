"""Publishing audit events: every service records its decisions on `ragline.audit.v1`."""

from __future__ import annotations

import uuid
from typing import Iterable, Mapping

from ragline.kafka import AUDIT, EventProducer, now_timestamp
from ragline.telemetry import current_trace_id
from ragline.v1 import audit_pb2, common_pb2

SCHEMA_VERSION = "ragline.v1"


class AuditTrail:
    def __init__(self, producer: EventProducer, service: str):
        self._producer = producer
        self._service = service

    def record(
        self,
        action: str,
        tenant: str,
        principal: str,
        outcome: str,
        *,
        document_ids: Iterable[str] = (),
        chunk_ids: Iterable[str] = (),
        details: Mapping[str, str] | None = None,
    ) -> None:
        """Queue an audit event in the current trace; the caller's flush sends it."""
        event = audit_pb2.AuditEvent(
            header=event_header(tenant, self._service),
            action=action,
            principal=principal,
            outcome=outcome,
            document_ids=list(document_ids),
            chunk_ids=list(chunk_ids),
            details={key: str(value) for key, value in (details or {}).items()},
            trace_id=current_trace_id(),
            occurred_at=now_timestamp(),
        )
        # Keyed by tenant: one tenant's records stay in order on one partition,
        # which the per-tenant hash chain relies on.
        self._producer.publish(AUDIT, tenant or "-", event)


def event_header(tenant: str, producer: str) -> common_pb2.EventHeader:
    return common_pb2.EventHeader(
        event_id=uuid.uuid4().hex,
        tenant=tenant,
        schema_version=SCHEMA_VERSION,
        produced_at=now_timestamp(),
        producer=producer,
    )
