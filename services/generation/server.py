"""The Answer, AnswerStream and Feedback gRPC calls."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import grpc

from ragline.auth import Principal, current_principal
from ragline.v1 import generation_pb2, generation_pb2_grpc
from services.generation.errors import DependencyError, InvalidRequest, UnknownAnswer
from services.generation.feedback import FeedbackDesk
from services.generation.orchestrator import AnswerOrchestrator

_STATUS = {
    "unavailable": grpc.StatusCode.UNAVAILABLE,
    "denied": grpc.StatusCode.PERMISSION_DENIED,
    "failed": grpc.StatusCode.INTERNAL,
}


class GenerationServicer(generation_pb2_grpc.GenerationServiceServicer):
    def __init__(self, orchestrator: AnswerOrchestrator, feedback: FeedbackDesk):
        self._orchestrator = orchestrator
        self._feedback = feedback

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

    def Feedback(
        self, request: generation_pb2.FeedbackRequest, context: grpc.ServicerContext
    ) -> generation_pb2.FeedbackResponse:
        principal = _caller(context)
        with _statuses(context):
            feedback_id = self._feedback.give(principal, request.answer_id, request.rating, request.comment)
            return generation_pb2.FeedbackResponse(feedback_id=feedback_id)


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
    except InvalidRequest as error:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
    except UnknownAnswer as error:
        context.abort(grpc.StatusCode.NOT_FOUND, str(error))
    except DependencyError as error:
        context.abort(_STATUS[error.failure], f"{error.dependency} failed: {error.reason}")
