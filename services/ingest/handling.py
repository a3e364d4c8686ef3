"""One consumed document event: process it, publish its chunk event, audit the outcome."""

from __future__ import annotations

import logging

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, KafkaError, KafkaException, Message
from google.protobuf.timestamp_pb2 import Timestamp

from ragline.auditing import AuditTrail
from ragline.kafka import CHUNKS, EventProducer, ReceivedEvent, RejectedEvent, now_timestamp
from ragline.v1 import chunks_pb2
from services.ingest.decoding import decode_document_event
from services.ingest.pipeline import PRODUCER, DocumentPipeline, audit_details

log = logging.getLogger("ragline.ingest")

# What ingest decides on its own, consuming events, is audited under this principal.
PRINCIPAL = f"service:{PRODUCER}"


class DocumentEventHandler:
    """For `per_event`: a RejectedEvent it raises becomes a dead letter, after the
    rejection is audited; a transient error is raised for the batch to be retried."""

    def __init__(self, pipeline: DocumentPipeline, producer: EventProducer, audit: AuditTrail):
        self._pipeline = pipeline
        self._producer = producer
        self._audit = audit

    def __call__(self, received: ReceivedEvent) -> None:
        event = decode_document_event(received)
        tenant = event.header.tenant
        documents = [event.document_id] if event.document_id else []
        try:
            chunks = self._pipeline.process(event, logged_at(received.message))
            self._publish(tenant, event.document_id, chunks)
        except RejectedEvent as rejection:
            if tenant:
                details = {"stage": rejection.stage, "reason": rejection.reason}
                self._audit.record(
                    "ingest.rejected", tenant, PRINCIPAL, "refused", document_ids=documents, details=details
                )
            raise
        details = audit_details(event, chunks)
        chunk_ids = [chunk.chunk_id for chunk in chunks.upsert.chunks]
        self._audit.record(
            "ingest.accepted", tenant, PRINCIPAL, "ok", document_ids=documents, chunk_ids=chunk_ids, details=details
        )
        log.info("document ingested", extra={"fields": {"tenant": tenant, "document_id": event.document_id, **details}})

    def _publish(self, tenant: str, document_id: str, chunks: chunks_pb2.ChunkEvent) -> None:
        try:
            self._producer.publish(CHUNKS, f"{tenant}/{document_id}", chunks)
        except KafkaException as error:
            # Retrying cannot make the event smaller: without this, the batch would be retried forever.
            if error.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
                raise
            reason = (
                f"the chunk event is {chunks.ByteSize()} bytes, more than Kafka accepts: raise message.max.bytes "
                "on the broker and the producers, or split the document"
            )
            raise RejectedEvent("publish", reason, tenant) from None


def logged_at(message: Message) -> Timestamp:
    """When Kafka logged the message (its timestamp), or now if it carries none."""
    kind, milliseconds = message.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE or milliseconds <= 0:
        return now_timestamp()
    stamp = Timestamp()
    stamp.FromMilliseconds(milliseconds)
    return stamp
