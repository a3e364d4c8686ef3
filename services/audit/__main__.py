"""Audit service: stores every service's audit events in a hash-chained log per tenant, watches usage for
anomalies; serves Query, Verify and Export to auditors."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ragline.config import ConfigError, data_dir, env_float, env_int, env_str, listen_port
from ragline.kafka import AUDIT, EventConsumer, EventProducer, per_event
from ragline.rpc import run_main, serve
from ragline.telemetry import setup_logging, setup_tracing
from ragline.v1 import audit_pb2, audit_pb2_grpc
from services.audit.access import AuditorAccess
from services.audit.anomaly import AnomalySettings, UsageAnomalyDetector
from services.audit.recorder import AuditRecorder
from services.audit.redaction import DetailsScrubber
from services.audit.server import AuditServicer
from services.audit.store import SqliteAuditStore, StoreUnavailable

log = logging.getLogger("services.audit")


def main() -> None:
    setup_logging()
    setup_tracing("audit")
    access = AuditorAccess.from_env()
    scrubber = DetailsScrubber.from_env()
    anomalies = AnomalySettings.from_env()
    export_chunk_bytes = env_int("RAGLINE_AUDIT_EXPORT_CHUNK_BYTES", 256 << 10, minimum=1 << 10, maximum=3 << 20)
    try:
        store = SqliteAuditStore(Path(env_str("RAGLINE_AUDIT_DB", str(data_dir() / "audit" / "audit.db"))))
    except StoreUnavailable as error:
        raise ConfigError(f"RAGLINE_AUDIT_DB: {error}") from None
    detector = UsageAnomalyDetector(anomalies)
    since_ns = time.time_ns() - anomalies.history_s * 1_000_000_000
    learned = detector.rebuild((r.event, r.occurred_at_ns) for r in store.recent(since_ns, anomalies.actions))
    log.info("usage baselines rebuilt", extra={"fields": {"events": learned, "history_s": anomalies.history_s}})
    # Alerts go out on the audit topic, like every audit event: a SIEM following the topic sees them at once.
    producer = EventProducer("audit")
    consumer = EventConsumer("audit", env_str("RAGLINE_AUDIT_GROUP", "ragline-audit"), [AUDIT], producer)
    recorder = AuditRecorder(
        store, scrubber, detector, lambda alert: producer.publish(AUDIT, alert.header.tenant, alert)
    )
    consumer_thread = consumer.start(
        per_event(recorder.handle, consumer),
        env_int("RAGLINE_AUDIT_BATCH_SIZE", 100, minimum=1, maximum=10000),
        env_float("RAGLINE_AUDIT_BATCH_WAIT_S", 0.2, minimum=0.0),
    )

    def register(server) -> list[str]:
        audit_pb2_grpc.add_AuditServiceServicer_to_server(AuditServicer(store, access, export_chunk_bytes), server)
        return [audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name]

    serve(
        "audit",
        listen_port("audit"),
        register,
        on_stop=[consumer.stop, consumer_thread.join, producer.flush, store.close],
        producer=producer,
    )


if __name__ == "__main__":
    run_main("audit", main)
