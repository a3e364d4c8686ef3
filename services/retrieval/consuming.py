"""The retrieval consumer's batch handler: a batch of embedding events applied
in one query, one upsert and one delete (ChunkIndexer.apply_all), then each
event dead-lettered or audited in its own span, as one by one."""

from __future__ import annotations

from opentelemetry import trace

from ragline.auditing import AuditTrail
from ragline.kafka import BatchHandler, EventConsumer, ReceivedEvent, RejectedEvent, per_event
from ragline.v1 import embeddings_pb2
from services.retrieval.indexer import ChunkIndexer, record

tracer = trace.get_tracer("ragline.retrieval")


def batch_handler(chunk_indexer: ChunkIndexer, audit: AuditTrail, consumer: EventConsumer) -> BatchHandler:
    """Apply each batch at once; one by one when apply_all() leaves it to that."""

    def handle(received: ReceivedEvent) -> None:
        event = received.decode(embeddings_pb2.EmbeddingEvent)
        record(audit, event, chunk_indexer.apply(event))

    one_by_one = per_event(handle, consumer)

    def handle_batch(batch: list[ReceivedEvent]) -> None:
        try:
            events = [received.decode(embeddings_pb2.EmbeddingEvent) for received in batch]
        except RejectedEvent:
            one_by_one(batch)
            return
        links = [trace.Link(received.span.get_span_context()) for received in batch]
        attributes = {"messaging.batch.message_count": len(batch)}
        with tracer.start_as_current_span("index batch", links=links, attributes=attributes):
            results = chunk_indexer.apply_all(events)
        if results is None:
            one_by_one(batch)
            return
        # per_event hands the events over in order, each in its own span.
        outcomes = iter(zip(events, results))

        def settle(received: ReceivedEvent) -> None:
            event, result = next(outcomes)
            if isinstance(result, RejectedEvent):
                raise result
            chunk_indexer.applied(event, result)
            record(audit, event, result)

        per_event(settle, consumer)(batch)

    return handle_batch
