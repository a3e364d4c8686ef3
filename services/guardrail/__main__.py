"""Guardrail service: screens documents, questions and answers; audits every verdict that is not an allow."""

from __future__ import annotations

import logging

from ragline.auditing import AuditTrail
from ragline.config import env_float, listen_port
from ragline.kafka import EventProducer
from ragline.rpc import run_main, serve
from ragline.telemetry import setup_logging, setup_tracing
from ragline.v1 import guardrail_pb2, guardrail_pb2_grpc
from services.guardrail.delivery import PeriodicFlush
from services.guardrail.policy import Policy
from services.guardrail.screens import Screener
from services.guardrail.server import GuardrailServicer

log = logging.getLogger(__name__)


def main() -> None:
    setup_logging()
    setup_tracing("guardrail")
    policy = Policy.from_env()
    log.info(
        "policy loaded",
        extra={"fields": {"policy_version": policy.version, "allowed_link_hosts": sorted(policy.allowed_link_hosts)}},
    )
    producer = EventProducer("guardrail")
    flush = PeriodicFlush(producer, env_float("RAGLINE_GUARDRAIL_AUDIT_FLUSH_S", 1.0, minimum=0.1))
    flush.start()

    def register(server) -> list[str]:
        servicer = GuardrailServicer(Screener(), policy, AuditTrail(producer, "guardrail"))
        guardrail_pb2_grpc.add_GuardrailServiceServicer_to_server(servicer, server)
        return [guardrail_pb2.DESCRIPTOR.services_by_name["GuardrailService"].full_name]

    serve("guardrail", listen_port("guardrail"), register, on_stop=[flush.stop])


if __name__ == "__main__":
    run_main("guardrail", main)
