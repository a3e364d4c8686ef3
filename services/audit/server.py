"""The AuditService gRPC calls: a tenant reads its own audit log."""

from __future__ import annotations

import grpc

from ragline.auth import current_principal
from ragline.v1 import audit_pb2, audit_pb2_grpc
from services.audit.store import AuditQuery, AuditStore, StoreUnavailable

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class InvalidQuery(ValueError):
    """A query request that cannot be run; the message says what to fix."""


def to_query(request: audit_pb2.QueryRequest) -> AuditQuery:
    if not request.tenant:
        raise InvalidQuery("tenant is empty: the audit log is read one tenant at a time")
    if request.page_size < 0:
        raise InvalidQuery(f"page_size is {request.page_size}: use 1..{MAX_PAGE_SIZE}, or 0 for {DEFAULT_PAGE_SIZE}")
    if request.after_sequence < 0:
        raise InvalidQuery(f"after_sequence is {request.after_sequence}: sequences start at 1, use 0 for the beginning")
    since = request.since.ToNanoseconds() if request.HasField("since") else None
    until = request.until.ToNanoseconds() if request.HasField("until") else None
    if since is not None and until is not None and since >= until:
        raise InvalidQuery("since is not before until: the window [since, until) is empty")
    return AuditQuery(
        tenant=request.tenant,
        principal=request.principal,
        action=request.action,
        document_id=request.document_id,
        since_ns=since,
        until_ns=until,
        after_sequence=request.after_sequence,
        # Larger pages are capped rather than refused (AIP-158); the caller pages on with after_sequence.
        limit=min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
    )


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, store: AuditStore):
        self._store = store

    def Query(self, request: audit_pb2.QueryRequest, context: grpc.ServicerContext) -> audit_pb2.QueryResponse:
        try:
            query = to_query(request)
        except InvalidQuery as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        principal = current_principal.get()
        if principal is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "no verified caller: send 'authorization: Bearer <jwt>'")
        if principal.tenant != query.tenant:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"your token is for tenant {principal.tenant!r}: it may read that tenant's audit log only, "
                f"not {query.tenant!r}",
            )
        try:
            records = self._store.query(query)
        except StoreUnavailable as error:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"{error}; retry later")
        return audit_pb2.QueryResponse(records=[record.to_proto() for record in records])
