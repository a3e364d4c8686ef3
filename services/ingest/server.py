"""The Ingest gRPC call: publishes a document event for clients that do not produce on Kafka."""

from __future__ import annotations

import uuid
from typing import Callable

import grpc
from confluent_kafka import KafkaException
from google.protobuf.message import Message

from ragline.auditing import SCHEMA_VERSION
from ragline.auth import current_principal
from ragline.kafka import DOCUMENTS, now_timestamp
from ragline.v1 import documents_pb2, ingest_pb2, ingest_pb2_grpc
from services.ingest.limits import Limits
from services.ingest.validation import validate

RPC_PRODUCER = "ingest-rpc"

# (topic, key, event) -> (partition, offset) once the broker has stored the event.
Publish = Callable[[str, str, Message], tuple[int, int]]


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, publish: Publish, limits: Limits):
        self._publish = publish
        self._limits = limits

    def Ingest(self, request: ingest_pb2.IngestRequest, context: grpc.ServicerContext) -> ingest_pb2.IngestResponse:
        principal = current_principal.get()
        if principal is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "no verified caller: send 'authorization: Bearer <jwt>'")
        if not request.HasField("event"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "event is missing: send the DocumentEvent to publish")
        event = documents_pb2.DocumentEvent()
        event.CopyFrom(request.event)
        header = event.header
        if not header.tenant:
            header.tenant = principal.tenant
        elif header.tenant != principal.tenant and not principal.is_service:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"your token is for tenant {principal.tenant!r}; "
                f"you may not publish documents for tenant {header.tenant!r}",
            )
        # The caller's event id is kept, so a retried call is recognisable downstream.
        header.event_id = header.event_id or uuid.uuid4().hex
        header.schema_version = header.schema_version or SCHEMA_VERSION
        # This call is what produced the event: when, and by what, are ours to say.
        header.produced_at.CopyFrom(now_timestamp())
        header.producer = RPC_PRODUCER
        problem = validate(event, self._limits)
        if problem:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        try:
            partition, offset = self._publish(DOCUMENTS, f"{header.tenant}/{event.document_id}", event)
        except (KafkaException, TimeoutError, BufferError) as error:
            context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"Kafka did not store the event ({error}); retry with the same event_id {header.event_id}",
            )
        return ingest_pb2.IngestResponse(event_id=header.event_id, topic=DOCUMENTS, partition=partition, offset=offset)
