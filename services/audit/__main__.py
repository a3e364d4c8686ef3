"""Audit service: stores every service's audit events in a hash-chained log per tenant; serves Query."""

from __future__ import annotations

from pathlib import Path

from ragline.config import ConfigError, data_dir, env_float, env_int, env_str, listen_port
from ragline.kafka import AUDIT, EventConsumer, EventProducer, per_event
from ragline.rpc import run_main, serve
from ragline.telemetry import setup_logging, setup_tracing
from ragline.v1 import audit_pb2, audit_pb2_grpc
from services.audit.recorder import AuditRecorder
from services.audit.server import AuditServicer
from services.audit.store import SqliteAuditStore, StoreUnavailable


def main() -> None:
    setup_logging()
    setup_tracing("audit")
    try:
        store = SqliteAuditStore(Path(env_str("RAGLINE_AUDIT_DB", str(data_dir() / "audit" / "audit.db"))))
    except StoreUnavailable as error:
        raise ConfigError(f"RAGLINE_AUDIT_DB: {error}") from None
    # Only dead letters are produced here.
    producer = EventProducer("audit")
    consumer = EventConsumer("audit", env_str("RAGLINE_AUDIT_GROUP", "ragline-audit"), [AUDIT], producer)
    consumer_thread = consumer.start(
        per_event(AuditRecorder(store).handle, consumer),
        env_int("RAGLINE_AUDIT_BATCH_SIZE", 100, minimum=1, maximum=10000),
        env_float("RAGLINE_AUDIT_BATCH_WAIT_S", 0.2, minimum=0.0),
    )

    def register(server) -> list[str]:
        audit_pb2_grpc.add_AuditServiceServicer_to_server(AuditServicer(store), server)
        return [audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name]

    serve(
        "audit",
        listen_port("audit"),
        register,
        on_stop=[consumer.stop, consumer_thread.join, producer.flush, store.close],
    )


if __name__ == "__main__":
    run_main("audit", main)
