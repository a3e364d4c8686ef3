"""gRPC server bootstrap and client channels shared by every service.

Every server has health checking and reflection, authenticates every other
call (docs/adr/0003), applies the request rate limits (docs/adr/0010), traces
calls (not health checks), optionally requires mutual TLS, and stops
gracefully on SIGTERM: NOT_SERVING first, then drain in-flight calls, then the
caller's own clean-up (consumers commit, producers flush), then flush spans.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import client_interceptor, filters, grpcext, server_interceptor

from ragline.auditing import AuditTrail
from ragline.auth import (
    RELAY_HEADER,
    AccessDenied,
    AuthenticationError,
    Caller,
    IssuedToken,
    KeySetUnavailable,
    Principal,
    TokenMinter,
    TokenSettings,
    TokenVerifier,
    all_service_audiences,
    current_principal,
    service_audience,
)
from ragline.config import ConfigError, env_float, env_int, env_str, target
from ragline.kafka import EventProducer
from ragline.ratelimit import LimitExceeded, LimiterUnavailable, RequestLimiter

log = logging.getLogger(__name__)

_UNAUTHENTICATED_SERVICES = (health.SERVICE_NAME, "grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection")
# Audit records of callers no tenant can be trusted for (bad tokens) go to the
# platform's own log, never into a tenant's chain on an unverified claim.
PLATFORM_TENANT = "_platform"


class AuthInterceptor(grpc.ServerInterceptor):
    """Verifies the caller, applies the rate limits, and makes the principal
    current for the handler; every denial is audited when given an AuditTrail."""

    def __init__(self, verifier: TokenVerifier, audit: AuditTrail | None = None, limiter: RequestLimiter | None = None):
        self._verifier = verifier
        self._audit = audit
        self._limiter = limiter

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method.strip("/")
        if handler is None or method.startswith(_UNAUTHENTICATED_SERVICES):
            return handler
        serializers = (handler.request_deserializer, handler.response_serializer)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(self._unary(method, handler.unary_unary), *serializers)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(self._streaming(method, handler.unary_stream), *serializers)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(self._unary(method, handler.stream_unary), *serializers)
        return grpc.stream_stream_rpc_method_handler(self._streaming(method, handler.stream_stream), *serializers)

    def _unary(self, method: str, behavior):
        def guarded(request, context):
            caller = self._admit(method, context)
            token = current_principal.set(caller.principal)
            try:
                return behavior(request, context)
            except LimitExceeded as error:
                self._exhausted(method, context, caller, error)
            except LimiterUnavailable as error:
                context.abort(grpc.StatusCode.UNAVAILABLE, str(error))
            finally:
                current_principal.reset(token)

        return guarded

    def _streaming(self, method: str, behavior):
        def guarded(request, context):
            caller = self._admit(method, context)
            token = current_principal.set(caller.principal)
            try:
                yield from behavior(request, context)
            except LimitExceeded as error:
                self._exhausted(method, context, caller, error)
            except LimiterUnavailable as error:
                context.abort(grpc.StatusCode.UNAVAILABLE, str(error))
            finally:
                # A stream abandoned by its client may be closed later, by the garbage collector, in another context.
                with contextlib.suppress(ValueError):
                    current_principal.reset(token)

        return guarded

    def _admit(self, method: str, context: grpc.ServicerContext) -> Caller:
        metadata = dict(context.invocation_metadata())
        header = metadata.get("authorization", "")
        if not header.lower().startswith("bearer "):
            self._deny(method, context, grpc.StatusCode.UNAUTHENTICATED, "missing bearer token: send 'authorization: Bearer <jwt>'")
        try:
            caller = self._verifier.authenticate(header[7:].strip(), metadata.get(RELAY_HEADER, ""))
        except AuthenticationError as error:
            self._deny(method, context, grpc.StatusCode.UNAUTHENTICATED, str(error))
        except AccessDenied as error:
            self._deny(method, context, grpc.StatusCode.PERMISSION_DENIED, str(error), error.principal)
        except KeySetUnavailable as error:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"{error}; retry later")
        # Only a caller's own requests count: what a service does on a user's
        # behalf was counted when the user called it.
        if self._limiter is not None and not caller.service and not caller.principal.is_service and self._limiter.applies(method):
            try:
                self._limiter.admit(caller.principal)
            except LimitExceeded as error:
                self._exhausted(method, context, caller, error)
            except LimiterUnavailable as error:
                context.abort(grpc.StatusCode.UNAVAILABLE, str(error))
        return caller

    def _deny(
        self, method: str, context: grpc.ServicerContext, code: grpc.StatusCode, reason: str, who: Principal | None = None
    ) -> NoReturn:
        tenant, subject = (who.tenant or PLATFORM_TENANT, who.subject) if who else (PLATFORM_TENANT, "")
        self._record("auth.denied", tenant, subject, {"method": method, "reason": reason, "peer": context.peer()})
        context.abort(code, reason)

    def _exhausted(self, method: str, context: grpc.ServicerContext, caller: Caller, error: LimitExceeded) -> NoReturn:
        seconds = max(1, math.ceil(error.retry_after_s))
        principal = caller.principal
        details = {"method": method, "scope": error.scope, "limit": str(error.limit), "retry_after_s": str(seconds), "peer": context.peer()}
        self._record("ratelimit.denied", principal.tenant or PLATFORM_TENANT, principal.subject, details)
        # `retry-after` for any client; google.rpc.RetryInfo for clients that read rich errors (AIP-193).
        status = status_pb2.Status(code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], message=str(error))
        retry = any_pb2.Any()
        retry.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds)))
        status.details.append(retry)
        context.set_trailing_metadata((("retry-after", str(seconds)), ("grpc-status-details-bin", status.SerializeToString())))
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(error))

    def _record(self, action: str, tenant: str, principal: str, details: dict[str, str]) -> None:
        if self._audit is None:
            return
        try:
            self._audit.record(action, tenant, principal, "denied", details=details)
        except Exception:  # noqa: BLE001 - a full producer queue must not turn a denial into an INTERNAL error
            log.exception("denial not audited", extra={"fields": {"action": action, **details}})


@dataclass(frozen=True)
class TlsFiles:
    """Mutual TLS between services: this process's certificate and key, and
    the CA that every peer's certificate must chain to."""

    cert: Path
    key: Path
    ca: Path

    @classmethod
    def from_env(cls) -> "TlsFiles | None":
        names = ("RAGLINE_TLS_CERT", "RAGLINE_TLS_KEY", "RAGLINE_TLS_CA")
        values = {name: env_str(name, "") for name in names}
        if not any(values.values()):
            return None
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise ConfigError(f"mutual TLS needs all of {', '.join(names)}; missing {', '.join(missing)}")
        for name, value in values.items():
            if not Path(value).is_file():
                raise ConfigError(f"{name}={value!r} is not a readable file")
        return cls(*(Path(values[name]) for name in names))

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key.read_bytes(), self.cert.read_bytes())], root_certificates=self.ca.read_bytes(), require_client_auth=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.ca.read_bytes(), self.key.read_bytes(), self.cert.read_bytes())


def serve(
    service: str,
    port: int,
    register: Callable[[grpc.Server], Iterable[str]],
    on_stop: Iterable[Callable[[], None]] = (),
    producer: EventProducer | None = None,
) -> None:
    """Run a gRPC server until SIGTERM or SIGINT, then stop in order.

    With a `producer`, authentication failures and rate-limit denials are
    published as audit events through it; flushing it stays the caller's
    (in `on_stop`), as for its other events.
    """
    verifier = TokenVerifier(TokenSettings.from_env(service))
    audit = AuditTrail(producer, service) if producer is not None else None
    tls = TlsFiles.from_env()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=env_int("RAGLINE_GRPC_WORKERS", 16, minimum=1)),
        interceptors=[
            server_interceptor(filter_=filters.negate(filters.health_check())),
            AuthInterceptor(verifier, audit, RequestLimiter.from_env()),
        ],
        # gRPC's 4 MiB default would refuse documents that Ingest accepts.
        options=[
            ("grpc.max_receive_message_length", env_int("RAGLINE_GRPC_MAX_RECEIVE_BYTES", 32 << 20, minimum=1 << 20)),
            # Without this a port already in use is shared silently (SO_REUSEPORT)
            # and calls land in the other server; the bind check below never fires.
            ("grpc.so_reuseport", 0),
        ],
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = list(register(server))
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    bind = f"0.0.0.0:{port}"
    bound = server.add_secure_port(bind, tls.server_credentials()) if tls else server.add_insecure_port(bind)
    if bound == 0:
        raise SystemExit(f"{service}: cannot listen on {bind} (port in use?)")
    server.start()
    for name in ["", *names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving", extra={"fields": {"service": service, "port": port, "mutual_tls": tls is not None}})

    stopped = threading.Event()

    def shutdown(signum: int, _frame: object) -> None:
        log.info("stopping", extra={"fields": {"signal": signal.Signals(signum).name}})
        stopped.set()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    stopped.wait()
    health_servicer.enter_graceful_shutdown()
    server.stop(env_float("RAGLINE_SHUTDOWN_GRACE_S", 10.0, minimum=0)).wait()
    for step in on_stop:
        # Each step runs even if an earlier one failed (Kafka down at shutdown).
        try:
            step()
        except Exception:
            log.exception("shutdown step failed", extra={"fields": {"step": getattr(step, "__qualname__", repr(step))}})
    provider = trace.get_tracer_provider()
    if hasattr(provider, "shutdown"):
        provider.shutdown()
    log.info("stopped", extra={"fields": {"service": service}})


def channel(address: str) -> grpc.Channel:
    """A channel to host:port, with mutual TLS when RAGLINE_TLS_* are set."""
    tls = TlsFiles.from_env()
    return grpc.secure_channel(address, tls.channel_credentials()) if tls else grpc.insecure_channel(address)


def connect(service: str) -> grpc.Channel:
    """A traced channel to another Ragline service, addressed from RAGLINE_<SERVICE>_ADDR."""
    # OpenTelemetry's interceptor works only with its own intercept_channel.
    return grpcext.intercept_channel(channel(target(service)), client_interceptor())


class CallCredentials:
    """The credentials of calls this service makes to another one.

    Each call carries a short-lived service token of this service's own
    identity, for the callee's audience. A call made while serving a user also
    carries that user's principal, relayed in a signed form bound to the
    service token, so the callee decides access from the end user's identity.
    """

    def __init__(self, service: str):
        self._service = service
        self._subject = f"service:{service}"
        self._minter: TokenMinter | None = None
        self._tokens: dict[str | None, IssuedToken] = {}
        self._lock = threading.Lock()
        self._warned = False

    def metadata(self, callee: str | None = None) -> list[tuple[str, str]]:
        """Metadata for a call to `callee` (a service name). Without it the
        token names every Ragline service's audience: name the callee so that
        a token one service receives cannot be replayed to another."""
        audience = service_audience(callee) if callee else all_service_audiences()
        minter, issued = self._service_token(callee, audience)
        metadata = [("authorization", f"Bearer {issued.token}")]
        principal = current_principal.get()
        if principal is not None and not principal.is_service:
            metadata.append((RELAY_HEADER, minter.relay(principal, self._subject, issued.jti, audience)))
        return metadata

    def _service_token(self, callee: str | None, audience: str | tuple[str, ...]) -> tuple[TokenMinter, IssuedToken]:
        with self._lock:
            if self._minter is None:
                self._minter = TokenMinter(TokenSettings.from_env())
            if callee is None and not self._warned:
                self._warned = True
                log.warning("service token for every service's audience: pass the callee to CallCredentials.metadata()")
            issued = self._tokens.get(callee)
            # Minted anew near expiry, and at once after a key rotation.
            if issued is None or time.time() > issued.expires_at - 60 or issued.key_id != self._minter.key_id:
                issued = self._minter.mint_service_token(self._service, audience)
                self._tokens[callee] = issued
            return self._minter, issued


def run_main(service: str, main: Callable[[], None]) -> None:
    """Run a service's main; a configuration problem ends it with a clear
    message and exit status 2 instead of a stack trace."""
    try:
        main()
    except (ConfigError, AuthenticationError) as error:
        raise SystemExit(f"{service}: {error}") from None

