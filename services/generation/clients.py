"""gRPC clients for the services an answer depends on, carrying the caller's token.

Each turns a failed call into a DependencyError naming the service, so that
the caller of Answer learns which dependency failed and whether to retry.
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

import grpc

from ragline.rpc import CallCredentials
from ragline.v1 import (
    embedding_pb2,
    embedding_pb2_grpc,
    guardrail_pb2,
    guardrail_pb2_grpc,
    retrieval_pb2,
    retrieval_pb2_grpc,
)
from services.generation.errors import DependencyError, Failure

Response = TypeVar("Response")

_FAILURES: dict[grpc.StatusCode, Failure] = {
    grpc.StatusCode.UNAVAILABLE: "unavailable",
    grpc.StatusCode.DEADLINE_EXCEEDED: "unavailable",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "unavailable",
    grpc.StatusCode.PERMISSION_DENIED: "denied",
    grpc.StatusCode.UNAUTHENTICATED: "denied",
}


class _Caller:
    def __init__(self, service: str, credentials: CallCredentials, timeout_s: float):
        self._service = service
        self._credentials = credentials
        self._timeout_s = timeout_s

    def call(self, method: Callable[..., Response], request: object) -> Response:
        try:
            return method(request, metadata=self._credentials.metadata(self._service), timeout=self._timeout_s)
        except grpc.RpcError as error:
            code = error.code()
            reason = f"{code.name}: {error.details()}"
            raise DependencyError(self._service, reason, _FAILURES.get(code, "failed")) from None


class GuardrailClient:
    def __init__(self, channel: grpc.Channel, credentials: CallCredentials, timeout_s: float):
        self._stub = guardrail_pb2_grpc.GuardrailServiceStub(channel)
        self._caller = _Caller("guardrail", credentials, timeout_s)

    def screen_input(self, tenant: str, text: str) -> guardrail_pb2.ScreenInputResponse:
        return self._caller.call(self._stub.ScreenInput, guardrail_pb2.ScreenInputRequest(tenant=tenant, text=text))

    def screen_output(self, tenant: str, text: str, context: Sequence[str]) -> guardrail_pb2.ScreenOutputResponse:
        request = guardrail_pb2.ScreenOutputRequest(tenant=tenant, text=text, context=list(context))
        return self._caller.call(self._stub.ScreenOutput, request)


class EmbeddingClient:
    def __init__(self, channel: grpc.Channel, credentials: CallCredentials, timeout_s: float):
        self._stub = embedding_pb2_grpc.EmbeddingServiceStub(channel)
        self._caller = _Caller("embedding", credentials, timeout_s)

    def embed(self, text: str) -> embedding_pb2.EmbedResponse:
        return self._caller.call(self._stub.Embed, embedding_pb2.EmbedRequest(texts=[text]))


class RetrievalClient:
    def __init__(self, channel: grpc.Channel, credentials: CallCredentials, timeout_s: float):
        self._stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        self._caller = _Caller("retrieval", credentials, timeout_s)

    def search(self, query_vector: Sequence[float], top_k: int) -> retrieval_pb2.SearchResponse:
        request = retrieval_pb2.SearchRequest(query_vector=list(query_vector), top_k=top_k)
        return self._caller.call(self._stub.Search, request)
