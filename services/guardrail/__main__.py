"""Guardrail service: screens documents, questions and answers; audits every verdict that is not an allow."""

from __future__ import annotations

import logging
from pathlib import Path

from ragline.auditing import AuditTrail
from ragline.config import env_float, env_str, listen_port
from ragline.kafka import EventProducer
from ragline.rpc import run_main, serve
from ragline.telemetry import setup_logging, setup_tracing
from ragline.v1 import guardrail_pb2, guardrail_pb2_grpc
from services.guardrail.delivery import PeriodicFlush
from services.guardrail.policy import POLICY_DIR, RULES_VERSION, PolicyStore
from services.guardrail.screens import Screener
from services.guardrail.server import GuardrailServicer

log = logging.getLogger(__name__)


def main() -> None:
    setup_logging()
    setup_tracing("guardrail")
    canary = env_str("RAGLINE_PROMPT_CANARY", "")
    screener = Screener(canary=canary)
    policies = PolicyStore(
        Path(env_str("RAGLINE_GUARDRAIL_POLICY_DIR", str(POLICY_DIR))),
        detectors=f"{RULES_VERSION}+{screener.classifier_version}",
        check_interval_s=env_float("RAGLINE_GUARDRAIL_POLICY_CHECK_S", 1.0, minimum=0.0),
    )
    fields = {"policies": policies.validate(), "classifier": screener.classifier_version, "canary_check": bool(canary)}
    log.info("policies loaded", extra={"fields": fields})
    producer = EventProducer("guardrail")
    flush = PeriodicFlush(producer, env_float("RAGLINE_GUARDRAIL_AUDIT_FLUSH_S", 1.0, minimum=0.1))
    flush.start()

    def register(server) -> list[str]:
        servicer = GuardrailServicer(screener, policies, AuditTrail(producer, "guardrail"))
        guardrail_pb2_grpc.add_GuardrailServiceServicer_to_server(servicer, server)
        return [guardrail_pb2.DESCRIPTOR.services_by_name["GuardrailService"].full_name]

    serve("guardrail", listen_port("guardrail"), register, on_stop=[flush.stop], producer=producer)


if __name__ == "__main__":
    run_main("guardrail", main)
