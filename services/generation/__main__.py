"""Generation service: answers questions over gRPC from the passages the caller may read."""

from __future__ import annotations

import logging

from ragline.auditing import AuditTrail
from ragline.config import env_float, env_int, env_str, listen_port
from ragline.kafka import EventProducer
from ragline.rpc import CallCredentials, connect, run_main, serve
from ragline.telemetry import setup_logging, setup_tracing
from ragline.v1 import generation_pb2_grpc
from services.generation.answer_cache import AnswerCache
from services.generation.answer_policy import AnswerPolicies
from services.generation.answerer import Answerer
from services.generation.circuit_breaker import CircuitBreaker
from services.generation.clients import EmbeddingClient, GuardrailClient, RetrievalClient
from services.generation.cost_ledger import CostLedger
from services.generation.extractive import ExtractiveAnswerer
from services.generation.feedback import AnswerBook, FeedbackDesk
from services.generation.model_endpoints import ModelEndpoint, endpoints_from_env
from services.generation.orchestrator import AnswerOrchestrator
from services.generation.pricing import PriceTable
from services.generation.prompt_registry import PromptRegistry, PromptRoutingStore
from services.generation.redis_connection import connect_redis
from services.generation.retry import RetryPolicy
from services.generation.sensitivity_routing import SensitivityRouting, sensitivity_label
from services.generation.server import GenerationServicer

log = logging.getLogger("ragline.generation")


def build_answerer(endpoints: list[ModelEndpoint]) -> Answerer:
    if not endpoints:
        log.info("no model endpoint configured: answers are extractive")
        return ExtractiveAnswerer()
    failures = env_int("RAGLINE_MODEL_BREAKER_FAILURES", 5, minimum=1)
    open_s = env_float("RAGLINE_MODEL_BREAKER_OPEN_S", 30.0, minimum=0.1)
    deadline_s = env_float("RAGLINE_MODEL_DEADLINE_S", 120.0, minimum=0.1)
    routing = SensitivityRouting.connect(
        endpoints,
        RetryPolicy.from_env(),
        deadline_s,
        lambda: CircuitBreaker(failures, open_s),
        canary=env_str("RAGLINE_PROMPT_CANARY", ""),
    )
    order = [
        f"{endpoint.name} ({endpoint.model} at {endpoint.base_url}, up to {sensitivity_label(endpoint.max_sensitivity)})"
        for endpoint in endpoints
    ]
    log.info("answering with chat models", extra={"fields": {"routing_order": order}})
    return routing


def main() -> None:
    setup_logging()
    setup_tracing("generation")
    timeout_s = env_float("RAGLINE_GENERATION_CALL_TIMEOUT_S", 10.0, minimum=0.1)
    credentials = CallCredentials("generation")
    producer = EventProducer("generation")
    redis_client = connect_redis()
    endpoints = endpoints_from_env()
    costs = CostLedger(redis_client, PriceTable.from_env(), {endpoint.name: endpoint.price for endpoint in endpoints})
    for name in costs.unpriced_endpoints():
        log.warning("endpoint has no entry in the price table: its calls are counted but not priced", extra={"fields": {"endpoint": name}})
    prompts = PromptRegistry(
        env_str("RAGLINE_GENERATION_PROMPT", "answer@v3"),
        PromptRoutingStore(redis_client),
        refresh_s=env_float("RAGLINE_GENERATION_PROMPT_REFRESH_S", 1.0, minimum=0.0),
    )
    cache_ttl_s = env_int("RAGLINE_GENERATION_CACHE_TTL_S", 3600, minimum=0)
    answers = AnswerBook(redis_client, env_int("RAGLINE_GENERATION_FEEDBACK_WINDOW_S", 7 * 86400, minimum=60))
    guardrail = GuardrailClient(connect("guardrail"), credentials, timeout_s)
    audit = AuditTrail(producer, "generation")
    orchestrator = AnswerOrchestrator(
        guardrail=guardrail,
        embedder=EmbeddingClient(connect("embedding"), credentials, timeout_s),
        search=RetrievalClient(connect("retrieval"), credentials, timeout_s),
        answerer=build_answerer(endpoints),
        audit=audit,
        prompts=prompts,
        policies=AnswerPolicies.from_env(),
        cache=AnswerCache(redis_client, cache_ttl_s) if cache_ttl_s else None,
        costs=costs,
        answers=answers,
    )
    feedback = FeedbackDesk(answers, guardrail, producer, audit)

    def register(server) -> list[str]:
        generation_pb2_grpc.add_GenerationServiceServicer_to_server(GenerationServicer(orchestrator, feedback), server)
        return ["ragline.v1.GenerationService"]

    serve("generation", listen_port("generation"), register, on_stop=[producer.flush, redis_client.close], producer=producer)


if __name__ == "__main__":
    run_main("generation", main)
