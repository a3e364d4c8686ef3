"""Generation service: answers questions over gRPC from the passages the caller may read."""

from __future__ import annotations

import logging

from ragline.auditing import AuditTrail
from ragline.config import env_float, env_str, listen_port
from ragline.kafka import EventProducer
from ragline.rpc import CallCredentials, connect, run_main, serve
from ragline.telemetry import setup_logging, setup_tracing
from ragline.v1 import generation_pb2_grpc
from services.generation.answerer import Answerer
from services.generation.chat_model import ChatModelAnswerer, ModelSettings
from services.generation.clients import EmbeddingClient, GuardrailClient, RetrievalClient
from services.generation.extractive import ExtractiveAnswerer
from services.generation.orchestrator import AnswerOrchestrator
from services.generation.prompts import load_prompt
from services.generation.server import GenerationServicer

log = logging.getLogger("ragline.generation")


def build_answerer() -> Answerer:
    settings = ModelSettings.from_env()
    if settings is None:
        log.info("no model endpoint configured: answers are extractive")
        return ExtractiveAnswerer()
    prompt = load_prompt(env_str("RAGLINE_GENERATION_PROMPT", "answer@v1"))
    fields = {"model": settings.model, "base_url": settings.base_url, "prompt": prompt.ref}
    log.info("answering with a chat model", extra={"fields": fields})
    return ChatModelAnswerer.from_settings(settings, prompt)


def main() -> None:
    setup_logging()
    setup_tracing("generation")
    timeout_s = env_float("RAGLINE_GENERATION_CALL_TIMEOUT_S", 10.0, minimum=0.1)
    credentials = CallCredentials("generation")
    producer = EventProducer("generation")
    orchestrator = AnswerOrchestrator(
        guardrail=GuardrailClient(connect("guardrail"), credentials, timeout_s),
        embedder=EmbeddingClient(connect("embedding"), credentials, timeout_s),
        search=RetrievalClient(connect("retrieval"), credentials, timeout_s),
        answerer=build_answerer(),
        audit=AuditTrail(producer, "generation"),
    )

    def register(server) -> list[str]:
        generation_pb2_grpc.add_GenerationServiceServicer_to_server(GenerationServicer(orchestrator), server)
        return ["ragline.v1.GenerationService"]

    serve("generation", listen_port("generation"), register, on_stop=[producer.flush])


if __name__ == "__main__":
    run_main("generation", main)
