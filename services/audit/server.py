"""The AuditService gRPC calls: an auditor queries, verifies and exports its own tenant's log.

Reading the log in bulk leaves a record in it: every Export and Verify, and
every refused call, is appended to the caller's tenant's log before any data
is returned. Query pages are not recorded: `ragline audit tail -f` polls every
second and would read its own records back forever.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterator, Mapping, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from ragline.auditing import event_header
from ragline.auth import Principal, current_principal
from ragline.kafka import now_timestamp
from ragline.telemetry import current_trace_id
from ragline.v1 import audit_pb2, audit_pb2_grpc
from services.audit.access import AccessDenied, AuditorAccess
from services.audit.export import export_chunks
from services.audit.store import AuditQuery, AuditStore, StoreUnavailable

log = logging.getLogger(__name__)

Request = TypeVar("Request")
Checked = TypeVar("Checked")

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class InvalidRequest(ValueError):
    """A request that cannot be run; the message says what to fix."""


def _window(since: Timestamp, until: Timestamp, has_since: bool, has_until: bool) -> tuple[int | None, int | None]:
    since_ns = since.ToNanoseconds() if has_since else None
    until_ns = until.ToNanoseconds() if has_until else None
    if since_ns is not None and until_ns is not None and since_ns >= until_ns:
        raise InvalidRequest("since is not before until: the window [since, until) is empty")
    return since_ns, until_ns


def _require_tenant(tenant: str) -> None:
    if not tenant:
        raise InvalidRequest("tenant is empty: the audit log is read one tenant at a time")


def to_query(request: audit_pb2.QueryRequest) -> AuditQuery:
    _require_tenant(request.tenant)
    if request.page_size < 0:
        raise InvalidRequest(f"page_size is {request.page_size}: use 1..{MAX_PAGE_SIZE}, or 0 for {DEFAULT_PAGE_SIZE}")
    if request.after_sequence < 0:
        raise InvalidRequest(
            f"after_sequence is {request.after_sequence}: sequences start at 1, use 0 for the beginning"
        )
    since, until = _window(request.since, request.until, request.HasField("since"), request.HasField("until"))
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


def to_export_query(request: audit_pb2.ExportRequest) -> AuditQuery:
    _require_tenant(request.tenant)
    since, until = _window(request.since, request.until, request.HasField("since"), request.HasField("until"))
    return AuditQuery(tenant=request.tenant, since_ns=since, until_ns=until)


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, store: AuditStore, access: AuditorAccess, export_chunk_bytes: int):
        self._store = store
        self._access = access
        self._export_chunk_bytes = export_chunk_bytes

    def Query(self, request: audit_pb2.QueryRequest, context: grpc.ServicerContext) -> audit_pb2.QueryResponse:
        query = self._valid(context, to_query, request)
        self._authorize(context, "audit.query", request.tenant)
        try:
            records = self._store.query(query)
        except StoreUnavailable as error:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"{error}; retry later")
        return audit_pb2.QueryResponse(records=[record.to_proto() for record in records])

    def Verify(self, request: audit_pb2.VerifyRequest, context: grpc.ServicerContext) -> audit_pb2.VerifyResponse:
        self._valid(context, _require_tenant, request.tenant)
        principal = self._authorize(context, "audit.verify", request.tenant)
        try:
            verification = self._store.verify_chain(request.tenant)
        except StoreUnavailable as error:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"{error}; retry later")
        details = {"records": str(verification.records_checked), "head_hash": verification.head_hash}
        if not verification.intact:
            details.update({"first_broken_sequence": str(verification.broken_at), "problem": verification.problem})
        self._note(context, "audit.verify", principal, "ok" if verification.intact else "alert", details)
        return audit_pb2.VerifyResponse(
            intact=verification.intact,
            records=verification.records_checked,
            first_broken_sequence=verification.broken_at or 0,
            problem=verification.problem,
            head_hash=verification.head_hash,
        )

    def Export(
        self, request: audit_pb2.ExportRequest, context: grpc.ServicerContext
    ) -> Iterator[audit_pb2.ExportResponse]:
        query = self._valid(context, to_export_query, request)
        principal = self._authorize(context, "audit.export", request.tenant)
        window = {name: getattr(request, name).ToJsonString() for name in ("since", "until") if request.HasField(name)}
        self._note(context, "audit.export", principal, "ok", window)
        try:
            for chunk in export_chunks(self._store, query, self._export_chunk_bytes):
                yield audit_pb2.ExportResponse(jsonl=chunk)
        except StoreUnavailable as error:
            context.abort(
                grpc.StatusCode.UNAVAILABLE, f"{error}; retry the export (since= narrows it to what is missing)"
            )

    def _valid(self, context: grpc.ServicerContext, check: Callable[[Request], Checked], request: Request) -> Checked:
        try:
            return check(request)
        except InvalidRequest as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))

    def _authorize(self, context: grpc.ServicerContext, action: str, tenant: str) -> Principal:
        principal = current_principal.get()
        try:
            return self._access.check(principal, tenant)
        except AccessDenied as denied:
            if principal is not None and principal.tenant:
                try:
                    self._append(action, principal, "denied", {"requested_tenant": tenant, "reason": str(denied)})
                except StoreUnavailable as error:
                    log.error("refused audit access not recorded", extra={"fields": {"error": str(error)}})
            context.abort(denied.code, str(denied))

    def _note(
        self, context: grpc.ServicerContext, action: str, principal: Principal, outcome: str, details: Mapping[str, str]
    ) -> None:
        """Record a read of the log before answering it: an unrecorded bulk read is refused."""
        try:
            self._append(action, principal, outcome, details)
        except StoreUnavailable as error:
            context.abort(
                grpc.StatusCode.UNAVAILABLE, f"cannot record this read of the audit log ({error}); retry later"
            )

    def _append(self, action: str, principal: Principal, outcome: str, details: Mapping[str, str]) -> None:
        self._store.append(
            audit_pb2.AuditEvent(
                header=event_header(principal.tenant, "audit"),
                action=action,
                principal=principal.subject,
                outcome=outcome,
                details=details,
                trace_id=current_trace_id(),
                occurred_at=now_timestamp(),
            )
        )
