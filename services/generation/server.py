"""The Answer and AnswerStream gRPC calls."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import grpc

from ragline.auth import Principal, current_principal
from ragline.v1 import generation_pb2, generation_pb2_grpc
from services.generation.errors import DependencyError, InvalidQuestion
from services.generation.orchestrator import AnswerOrchestrator

_STATUS = {
    "unavailable": grpc.StatusCode.UNAVAILABLE,
    "denied": grpc.StatusCode.PERMISSION_DENIED,
    "failed": grpc.StatusCode.INTERNAL,
}


class GenerationServicer(generation_pb2_grpc.GenerationServiceServicer):
    def __init__(self, orchestrator: AnswerOrchestrator):
        self._orchestrator = orchestrator

    def Answer(
        self, request: generation_pb2.AnswerRequest, context: grpc.ServicerContext
    ) -> generation_pb2.AnswerResponse:
        principal = _caller(context)
        with _statuses(context):
            return self._orchestrator.answer(principal, request.question, request.top_k)

    def AnswerStream(
        self, request: generation_pb2.AnswerStreamRequest, context: grpc.ServicerContext
    ) -> Iterator[generation_pb2.AnswerStreamResponse]:
        principal = _caller(context)
        events = self._orchestrator.stream(principal, request.question, request.top_k)
        try:
            with _statuses(context):
                for event in events:
                    # A cancelled or expired call stops here; closing `events` stops the model stream.
                    if not context.is_active():
                        return
                    yield event
        finally:
            events.close()


def _caller(context: grpc.ServicerContext) -> Principal:
    principal = current_principal.get()
    if principal is None:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "no verified caller: send 'authorization: Bearer <jwt>'")
    if not principal.tenant:
        reason = f"the token of {principal.subject} has no tenant claim: ask with a user's token"
        context.abort(grpc.StatusCode.PERMISSION_DENIED, reason)
    return principal


@contextmanager
def _statuses(context: grpc.ServicerContext) -> Iterator[None]:
    try:
        yield
    except InvalidQuestion as error:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
    except DependencyError as error:
        context.abort(_STATUS[error.failure], f"{error.dependency} failed: {error.reason}")
