"""The guardrail's ScreenDocument call, as the pipeline's `screen` function."""

from __future__ import annotations

import grpc

from ragline.kafka import RejectedEvent, TransientError
from ragline.rpc import CallCredentials
from ragline.v1 import guardrail_pb2, guardrail_pb2_grpc

# The guardrail is misdeployed, not the document wrong: retry until it is fixed
# rather than dead-letter every document meanwhile.
_DEPLOYMENT_ERRORS = frozenset(
    {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNIMPLEMENTED}
)
# Unreachable, overloaded or slow: the consumer retries these by itself.
_RETRIED_ERRORS = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)


class GuardrailScreen:
    def __init__(self, channel: grpc.Channel, credentials: CallCredentials, timeout_s: float):
        self._stub = guardrail_pb2_grpc.GuardrailServiceStub(channel)
        self._credentials = credentials
        self._timeout_s = timeout_s

    def __call__(self, tenant: str, document_id: str, text: str) -> guardrail_pb2.ScreenDocumentResponse:
        request = guardrail_pb2.ScreenDocumentRequest(tenant=tenant, document_id=document_id, text=text)
        try:
            return self._stub.ScreenDocument(request, timeout=self._timeout_s, metadata=self._credentials.metadata("guardrail"))
        except grpc.RpcError as error:
            code = error.code()
            if code in _RETRIED_ERRORS:
                raise
            failure = f"{code.name}: {error.details()}"
            if code in _DEPLOYMENT_ERRORS:
                raise TransientError(f"guardrail refused ingest's call ({failure}); will retry") from None
            # Anything else is about this document (or a guardrail bug it triggers):
            # dead-letter it with the reason, so it can be replayed once fixed.
            raise RejectedEvent("screen", f"the guardrail could not screen the document ({failure})", tenant) from None
