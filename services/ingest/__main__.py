"""Ingest service: document events in, screened chunk events out; also serves Ingest."""

from __future__ import annotations

from pathlib import Path

from ragline import minilm
from ragline.auditing import AuditTrail
from ragline.config import env_float, env_int, env_str, listen_port
from ragline.kafka import DOCUMENTS, EventConsumer, EventProducer, per_event
from ragline.rpc import CallCredentials, connect, run_main, serve
from ragline.telemetry import setup_logging, setup_tracing
from ragline.v1 import ingest_pb2_grpc
from services.ingest.chunking import Chunker
from services.ingest.fetching import ContentFetcher
from services.ingest.handling import DocumentEventHandler
from services.ingest.limits import Limits
from services.ingest.parser_process import ParserProcess
from services.ingest.pipeline import PRODUCER, DocumentPipeline
from services.ingest.screening import GuardrailScreen
from services.ingest.server import RPC_PRODUCER, IngestServicer


def main() -> None:
    setup_logging()
    setup_tracing("ingest")
    limits = Limits.from_env()
    # [CLS] and [SEP] take two of the model's positions.
    chunk_tokens = env_int("RAGLINE_INGEST_CHUNK_TOKENS", 200, minimum=16, maximum=minilm.MAX_TOKENS - 2)
    overlap = env_int("RAGLINE_INGEST_CHUNK_OVERLAP_TOKENS", 30, minimum=0, maximum=chunk_tokens // 2)
    screen_timeout = env_float("RAGLINE_INGEST_SCREEN_TIMEOUT_S", 10.0, minimum=0.1)
    concurrency = env_int("RAGLINE_INGEST_SCREEN_CONCURRENCY", 4, minimum=1, maximum=64)
    screen = GuardrailScreen(connect("guardrail"), CallCredentials(PRODUCER), screen_timeout)
    file_root = env_str("RAGLINE_INGEST_FILE_ROOT", "")
    fetch = ContentFetcher(
        Path(file_root) if file_root else None,
        limits.document_bytes,
        env_float("RAGLINE_INGEST_FETCH_TIMEOUT_S", 10.0, minimum=0.1),
    ).fetch
    parser = ParserProcess(
        env_float("RAGLINE_INGEST_PARSE_TIMEOUT_S", 20.0, minimum=0.1),
        env_int("RAGLINE_INGEST_PARSE_MEMORY_MB", 2048, minimum=256) * 1024 * 1024,
    )
    chunker = Chunker(minilm.load_tokenizer(), chunk_tokens, overlap)
    pipeline = DocumentPipeline(screen, chunker, limits, fetch, parser, concurrency)

    producer = EventProducer(PRODUCER)
    consumer = EventConsumer(PRODUCER, env_str("RAGLINE_INGEST_GROUP", "ragline-ingest"), [DOCUMENTS], producer)
    handle = per_event(DocumentEventHandler(pipeline, producer, AuditTrail(producer, PRODUCER)), consumer)
    batch_size = env_int("RAGLINE_INGEST_BATCH_SIZE", 8, minimum=1, maximum=500)
    consumer_thread = consumer.start(handle, batch_size, env_float("RAGLINE_INGEST_BATCH_WAIT_S", 0.5, minimum=0.0))

    # Its own producer: waiting for one call's acknowledgement must not wait on the consumer's traffic.
    rpc_producer = EventProducer(RPC_PRODUCER)

    def register(server) -> list[str]:
        servicer = IngestServicer(rpc_producer.publish_and_wait, limits)
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)
        return ["ragline.v1.IngestService"]

    on_stop = [consumer.stop, consumer_thread.join, parser.close, producer.flush, rpc_producer.flush]
    serve("ingest", listen_port("ingest"), register, on_stop=on_stop, producer=producer)


if __name__ == "__main__":
    run_main("ingest", main)
