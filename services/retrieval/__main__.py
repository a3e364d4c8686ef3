"""Retrieval service: embeddings in, indexed in Milvus; serves Search; re-indexes on request."""

from __future__ import annotations

from ragline.auditing import AuditTrail
from ragline.config import env_float, env_int, env_str, listen_port, target
from ragline.kafka import EMBEDDINGS, EventConsumer, EventProducer
from ragline.rpc import CallCredentials, run_main, serve
from ragline.telemetry import setup_logging, setup_metrics, setup_tracing
from ragline.v1 import retrieval_pb2_grpc
from services.retrieval import indexer
from services.retrieval.consuming import batch_handler
from services.retrieval.embedding_client import EmbeddingClient, EmbeddingClients
from services.retrieval.freshness import freshness_histogram
from services.retrieval.index import ChunkIndex, IndexSettings
from services.retrieval.index_generations import IndexGenerations
from services.retrieval.redis_connection import connect_redis
from services.retrieval.reindex_requests import ReindexRequests
from services.retrieval.reindexing import ReindexWatcher
from services.retrieval.server import RetrievalServicer


def main() -> None:
    setup_logging()
    setup_tracing("retrieval")
    setup_metrics("retrieval")
    batch_size = env_int("RAGLINE_RETRIEVAL_BATCH_SIZE", 16, minimum=1, maximum=1024)
    batch_wait = env_float("RAGLINE_RETRIEVAL_BATCH_WAIT_S", 0.1, minimum=0.0)
    embed_timeout = env_float("RAGLINE_RETRIEVAL_EMBED_TIMEOUT_S", 5.0, minimum=0.1)
    reembed_timeout = env_float("RAGLINE_RETRIEVAL_REEMBED_TIMEOUT_S", 60.0, minimum=1.0)
    audit_timeout = env_float("RAGLINE_RETRIEVAL_AUDIT_TIMEOUT_S", 5.0, minimum=0.1)
    reindex_poll = env_float("RAGLINE_RETRIEVAL_REINDEX_POLL_S", 5.0, minimum=0.1)
    settings = IndexSettings.from_env()
    index = ChunkIndex(settings)
    credentials = CallCredentials("retrieval")
    embedders = EmbeddingClients(EmbeddingClient(target("embedding"), credentials, reembed_timeout))
    redis_client = connect_redis()
    generations = IndexGenerations(redis_client)
    chunk_indexer = indexer.ChunkIndexer(index, embedders, generations, freshness_histogram())

    producer = EventProducer("retrieval")
    audit = AuditTrail(producer, "retrieval")
    group = env_str("RAGLINE_RETRIEVAL_GROUP", "ragline-retrieval")
    consumer = EventConsumer("retrieval", group, [EMBEDDINGS], producer)

    consumer_thread = consumer.start(batch_handler(chunk_indexer, audit, consumer), batch_size, batch_wait)
    watcher = ReindexWatcher(
        ReindexRequests(redis_client, settings.alias),
        index,
        chunk_indexer,
        embedders,
        generations,
        credentials,
        reembed_timeout,
        reindex_poll,
        drop_grace_s=settings.timeout_s,
    )
    watcher_thread = watcher.start()

    # Searches confirm their own audit records; a separate producer keeps that
    # wait from including the consumer's traffic, and the reverse.
    search_producer = EventProducer("retrieval-search")

    def register(server) -> list[str]:
        servicer = RetrievalServicer(
            index,
            embedders,
            AuditTrail(search_producer, "retrieval"),
            lambda: search_producer.flush(audit_timeout),
            embed_timeout,
        )
        retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server(servicer, server)
        return ["ragline.v1.RetrievalService"]

    serve(
        "retrieval",
        listen_port("retrieval"),
        register,
        on_stop=[
            consumer.stop,
            watcher.stop,
            consumer_thread.join,
            watcher_thread.join,
            producer.flush,
            search_producer.flush,
            index.close,
            redis_client.close,
        ],
        producer=producer,
    )


if __name__ == "__main__":
    run_main("retrieval", main)
