"""gRPC server bootstrap and client channels shared by every service.

Every server has health checking and reflection, authenticates every call
except those two, traces calls (not health checks), and stops gracefully on
SIGTERM: NOT_SERVING first, then drain in-flight calls, then the caller's own
clean-up (consumers commit, producers flush), then flush spans.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent import futures
from typing import Callable, Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import client_interceptor, filters, grpcext, server_interceptor

from ragline.auth import AuthenticationError, TokenMinter, TokenSettings, TokenVerifier, current_principal, current_token
from ragline.config import ConfigError, env_float, env_int, target

log = logging.getLogger(__name__)

_UNAUTHENTICATED_SERVICES = (health.SERVICE_NAME, "grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection")


class AuthInterceptor(grpc.ServerInterceptor):
    """Verifies the bearer token and makes the principal current for the handler."""

    def __init__(self, verifier: TokenVerifier):
        self._verifier = verifier

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.strip("/").startswith(_UNAUTHENTICATED_SERVICES):
            return handler
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._guard(handler.unary_unary), handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._guard_stream(handler.unary_stream), handler.request_deserializer, handler.response_serializer
            )
        return handler

    def _authenticate(self, context: grpc.ServicerContext) -> None:
        metadata = dict(context.invocation_metadata())
        header = metadata.get("authorization", "")
        if not header.lower().startswith("bearer "):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing bearer token: send 'authorization: Bearer <jwt>'")
        token = header[7:].strip()
        try:
            principal = self._verifier.verify(token)
        except AuthenticationError as error:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
        current_principal.set(principal)
        current_token.set(token)

    def _guard(self, behavior):
        def guarded(request, context):
            self._authenticate(context)
            return behavior(request, context)

        return guarded

    def _guard_stream(self, behavior):
        def guarded(request, context):
            self._authenticate(context)
            yield from behavior(request, context)

        return guarded


def serve(
    service: str,
    port: int,
    register: Callable[[grpc.Server], Iterable[str]],
    on_stop: Iterable[Callable[[], None]] = (),
) -> None:
    """Run a gRPC server until SIGTERM or SIGINT, then stop in order."""
    verifier = TokenVerifier(TokenSettings.from_env())
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=env_int("RAGLINE_GRPC_WORKERS", 16, minimum=1)),
        interceptors=[server_interceptor(filter_=filters.negate(filters.health_check())), AuthInterceptor(verifier)],
        # gRPC's 4 MiB default would refuse documents that Ingest accepts.
        options=[("grpc.max_receive_message_length", env_int("RAGLINE_GRPC_MAX_RECEIVE_BYTES", 32 << 20, minimum=1 << 20))],
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = list(register(server))
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    bind = f"0.0.0.0:{port}"
    if server.add_insecure_port(bind) == 0:
        raise SystemExit(f"{service}: cannot listen on {bind} (port in use?)")
    server.start()
    for name in ["", *names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving", extra={"fields": {"service": service, "port": port}})

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


def connect(service: str) -> grpc.Channel:
    """A traced channel to another Ragline service, addressed from RAGLINE_<SERVICE>_ADDR."""
    # OpenTelemetry's interceptor works only with its own intercept_channel.
    return grpcext.intercept_channel(grpc.insecure_channel(target(service)), client_interceptor())


class CallCredentials:
    """The bearer token for calls this service makes.

    Calls made while serving a request carry the caller's own token, so the
    service called decides access from the end user's identity. Calls the
    service makes on its own (consuming events) carry a short-lived token of
    its own identity, minted when the previous one nears expiry.
    """

    def __init__(self, service: str):
        self._subject = f"service:{service}"
        self._minter: TokenMinter | None = None
        self._token = ""
        self._expires = 0.0
        self._lock = threading.Lock()

    def metadata(self) -> list[tuple[str, str]]:
        token = current_token.get() or self._service_token()
        return [("authorization", f"Bearer {token}")]

    def _service_token(self) -> str:
        with self._lock:
            if time.time() > self._expires - 60:
                if self._minter is None:
                    self._minter = TokenMinter(TokenSettings.from_env())
                self._token = self._minter.mint(self._subject, tenant="", ttl_s=300)
                self._expires = time.time() + 300
            return self._token


def run_main(service: str, main: Callable[[], None]) -> None:
    """Run a service's main; a configuration problem ends it with a clear
    message and exit status 2 instead of a stack trace."""
    try:
        main()
    except (ConfigError, AuthenticationError) as error:
        raise SystemExit(f"{service}: {error}") from None
