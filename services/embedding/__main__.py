"""Embedding service: chunks in, vectors out; also serves Embed for queries."""

from __future__ import annotations

from opentelemetry import trace

from ragline import minilm
from ragline.config import env_float, env_int, env_str, listen_port
from ragline.kafka import CHUNKS, EMBEDDINGS, EventConsumer, EventProducer, ReceivedEvent, RejectedEvent
from ragline.rpc import run_main, serve
from ragline.telemetry import setup_logging, setup_tracing
from ragline.v1 import chunks_pb2, embedding_pb2_grpc
from services.embedding.batching import chunk_count
from services.embedding.embedder import ChunkEmbedder, validate
from services.embedding.encoder import MiniLMEncoder
from services.embedding.server import EmbeddingServicer

tracer = trace.get_tracer("ragline.embedding")


def main() -> None:
    setup_logging()
    setup_tracing("embedding")
    batch_chunks = env_int("RAGLINE_EMBEDDING_BATCH_CHUNKS", 64, minimum=1, maximum=4096)
    batch_wait = env_float("RAGLINE_EMBEDDING_BATCH_WAIT_S", 0.2, minimum=0.0)
    # Unset: the cores this process may use. Set it where a CPU quota is lower (containers).
    threads = env_int("RAGLINE_EMBEDDING_THREADS", 0, minimum=0, maximum=256)
    encoder = MiniLMEncoder(workers=threads or None)
    embedder = ChunkEmbedder(encoder.encode, minilm.MODEL_NAME, minilm.model_version())
    producer = EventProducer("embedding")
    consumer = EventConsumer("embedding", env_str("RAGLINE_EMBEDDING_GROUP", "ragline-embedding"), [CHUNKS], producer)

    def handle(events: list[ReceivedEvent]) -> None:
        accepted: list[tuple[ReceivedEvent, chunks_pb2.ChunkEvent]] = []
        for received in events:
            try:
                event = received.decode(chunks_pb2.ChunkEvent)
                problem = validate(event)
                if problem:
                    raise RejectedEvent("validate", problem, event.header.tenant)
                accepted.append((received, event))
            except RejectedEvent as rejection:
                consumer.reject(received, rejection.stage, rejection.reason, rejection.tenant)
        if not accepted:
            return
        # One model call serves many documents: it hangs under the first
        # document's trace and links to every other one.
        with accepted[0][0].activate(), tracer.start_as_current_span(
            "embed batch",
            links=[trace.Link(received.span.get_span_context()) for received, _ in accepted],
            attributes={
                "messaging.batch.message_count": len(accepted),
                "gen_ai.request.model": embedder.model,
                "ragline.embedding.chunks": sum(len(event.upsert.chunks) for _, event in accepted),
            },
        ):
            results = embedder.embed([event for _, event in accepted])
        for (received, event), result in zip(accepted, results):
            with received.activate():
                producer.publish(EMBEDDINGS, f"{event.header.tenant}/{event.document_id}", result)

    consumer_thread = consumer.start(handle, batch_chunks, batch_wait, weigh=chunk_count)

    def register(server) -> list[str]:
        servicer = EmbeddingServicer(encoder.encode, embedder.model, embedder.model_version)
        embedding_pb2_grpc.add_EmbeddingServiceServicer_to_server(servicer, server)
        return ["ragline.v1.EmbeddingService"]

    serve("embedding", listen_port("embedding"), register, on_stop=[consumer.stop, consumer_thread.join, producer.flush], producer=producer)


if __name__ == "__main__":
    run_main("embedding", main)
