"""The GuardrailService gRPC calls, and the audit record of every verdict that is not an allow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import grpc
from confluent_kafka import KafkaException
from opentelemetry import trace

from ragline.auditing import AuditTrail
from ragline.auth import Principal, current_principal
from ragline.config import ConfigError
from ragline.v1 import guardrail_pb2, guardrail_pb2_grpc
from services.guardrail.policy import ALLOW, BLOCK, Policy, PolicyStore, Screen
from services.guardrail.screens import Screener, ScreenResult

AUDIT_ACTION = "guardrail.verdict"


@dataclass(frozen=True)
class VerdictRecord:
    """One audit record's outcome and details."""

    outcome: str
    details: Mapping[str, str]


def verdict_records(screen: Screen, result: ScreenResult, policy_version: str) -> list[VerdictRecord]:
    """The audit records for a screen's result: one per verdict that is not an allow."""
    return [
        VerdictRecord(
            outcome="refused" if verdict.action == BLOCK else "ok",
            details={
                "check": verdict.check,
                # The policy's treatment: mask and hash are redactions on the wire.
                "action": verdict.treatment or guardrail_pb2.Action.Name(verdict.action).removeprefix("ACTION_").lower(),
                "score": f"{verdict.score:.2f}",
                "reason": verdict.reason,
                "policy_version": policy_version,
                "screen": screen.value,
            },
        )
        for verdict in result.verdicts
        if verdict.action != ALLOW
    ]


def _require_text(context: grpc.ServicerContext, text: str) -> None:
    # An unset field is a caller's bug; a whitespace-only block or sentence is content, screened as it is.
    if not text:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "text is empty: send the text to screen")


class GuardrailServicer(guardrail_pb2_grpc.GuardrailServiceServicer):
    def __init__(self, screener: Screener, policies: PolicyStore, trail: AuditTrail):
        self._screener = screener
        self._policies = policies
        self._trail = trail

    def ScreenDocument(
        self, request: guardrail_pb2.ScreenDocumentRequest, context: grpc.ServicerContext
    ) -> guardrail_pb2.ScreenDocumentResponse:
        principal = self._admit(context, request.tenant)
        _require_text(context, request.text)
        if not request.document_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "document_id is empty: name the document being screened")
        policy = self._policy(context, request.tenant)
        result = self._screener.screen_document(request.text, policy)
        self._record(context, Screen.DOCUMENT, request.tenant, principal, policy, result, [request.document_id])
        return guardrail_pb2.ScreenDocumentResponse(
            text=result.text, verdicts=_verdicts(result, policy), suspected_injection=result.suspected_injection
        )

    def ScreenInput(
        self, request: guardrail_pb2.ScreenInputRequest, context: grpc.ServicerContext
    ) -> guardrail_pb2.ScreenInputResponse:
        principal = self._admit(context, request.tenant)
        if not request.text.strip():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "text is blank: send the question to screen")
        policy = self._policy(context, request.tenant)
        result = self._screener.screen_input(request.text, policy)
        self._record(context, Screen.INPUT, request.tenant, principal, policy, result)
        return guardrail_pb2.ScreenInputResponse(allowed=result.allowed, text=result.text, verdicts=_verdicts(result, policy))

    def ScreenOutput(
        self, request: guardrail_pb2.ScreenOutputRequest, context: grpc.ServicerContext
    ) -> guardrail_pb2.ScreenOutputResponse:
        principal = self._admit(context, request.tenant)
        _require_text(context, request.text)
        policy = self._policy(context, request.tenant)
        result = self._screener.screen_output(request.text, list(request.context), policy)
        self._record(context, Screen.OUTPUT, request.tenant, principal, policy, result)
        return guardrail_pb2.ScreenOutputResponse(allowed=result.allowed, text=result.text, verdicts=_verdicts(result, policy))

    def _policy(self, context: grpc.ServicerContext, tenant: str) -> Policy:
        try:
            return self._policies.for_tenant(tenant)
        except ConfigError as error:
            # Only a tenant file that was broken before its first use gets here; screening without it would
            # apply rules the tenant did not choose.
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"the guardrail policy for tenant {tenant!r} cannot be loaded: {error}")

    def _admit(self, context: grpc.ServicerContext, tenant: str) -> Principal:
        if not tenant:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tenant is empty: name the tenant whose policy applies")
        principal = current_principal.get()
        if principal is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "no verified caller: send 'authorization: Bearer <jwt>'")
        # Services screen for any tenant; an end user only for their own, so nobody writes
        # verdicts into another tenant's audit log.
        if not principal.is_service and principal.tenant != tenant:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"your token is for tenant {principal.tenant!r}, not {tenant!r}: screen text for your own tenant",
            )
        return principal

    def _record(
        self,
        context: grpc.ServicerContext,
        screen: Screen,
        tenant: str,
        principal: Principal,
        policy: Policy,
        result: ScreenResult,
        document_ids: Sequence[str] = (),
    ) -> None:
        span = trace.get_current_span()
        span.set_attribute("ragline.guardrail.screen", screen.value)
        span.set_attribute("ragline.guardrail.policy_version", policy.version)
        span.set_attribute("ragline.guardrail.allowed", result.allowed)
        span.set_attribute("ragline.guardrail.checks", sorted({v.check for v in result.verdicts if v.action != ALLOW}))
        try:
            for record in verdict_records(screen, result, policy.version):
                self._trail.record(
                    AUDIT_ACTION,
                    tenant,
                    principal.subject,
                    record.outcome,
                    document_ids=document_ids,
                    details=record.details,
                )
        except (BufferError, KafkaException) as error:
            # A verdict nobody can prove later is not returned: the caller retries.
            context.abort(
                grpc.StatusCode.UNAVAILABLE, f"cannot record the verdict in the audit log, retry later: {error}"
            )


def _verdicts(result: ScreenResult, policy: Policy) -> list[guardrail_pb2.Verdict]:
    return [
        guardrail_pb2.Verdict(check=v.check, action=v.action, score=v.score, reason=v.reason, policy_version=policy.version)
        for v in result.verdicts
    ]
