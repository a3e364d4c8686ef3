"""The server interceptor on a real gRPC server on loopback: every kind of
method is authenticated, denials carry the right status and an actionable
message, and the handler sees the principal whose rights apply."""

from __future__ import annotations

import json
import socket
from concurrent import futures
from dataclasses import asdict, replace
from typing import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from ragline.auth import RELAY_HEADER, Principal, TokenMinter, TokenSettings, TokenVerifier, current_principal, init_keys
from ragline.ratelimit import LimitExceeded, LimiterUnavailable
from ragline.rpc import AuthInterceptor
from ragline.v1 import common_pb2

PROBE = "ragline.test.Probe"
ALICE = Principal("alice", "acme", ("eng",), common_pb2.SENSITIVITY_INTERNAL, ("analyst",))
# What the probe answers for ALICE.
AS_SEEN = json.loads(json.dumps(asdict(ALICE)))


def who(_request: bytes, _context: grpc.ServicerContext) -> bytes:
    principal = current_principal.get()
    return json.dumps(asdict(principal) if principal else None).encode()


def who_stream(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    yield who(request, context)


def collect(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
    list(requests)
    return who(b"", context)


def over_quota(_request: bytes, _context: grpc.ServicerContext) -> bytes:
    raise LimitExceeded("tenant 'acme' used its 100 tokens for today (UTC)", "tenant_tokens_per_day", 100, 42.2)


def limiter_down(_request: bytes, _context: grpc.ServicerContext) -> bytes:
    raise LimiterUnavailable("rate limits cannot be checked (Redis down): retry in a few seconds")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> TokenSettings:
    keys = tmp_path_factory.mktemp("keys")
    settings = TokenSettings("https://issuer.test", "ragline.retrieval", keys / "jwks.json", keys / "key.pem", 900, 5, user_audiences=("ragline",))
    init_keys(settings)
    return settings


def start_server(verifier: TokenVerifier) -> tuple[grpc.Server, grpc.Channel]:
    # One worker: consecutive calls run on the same thread, so a principal left behind would show.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), interceptors=[AuthInterceptor(verifier)])
    probe = {
        "Who": grpc.unary_unary_rpc_method_handler(who),
        "WhoStream": grpc.unary_stream_rpc_method_handler(who_stream),
        "Collect": grpc.stream_unary_rpc_method_handler(collect),
        "OverQuota": grpc.unary_unary_rpc_method_handler(over_quota),
        "LimiterDown": grpc.unary_unary_rpc_method_handler(limiter_down),
    }
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(PROBE, probe),
            # The health service is not authenticated: it shows what a handler sees without a verified caller.
            grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Peek": grpc.unary_unary_rpc_method_handler(who)}),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, grpc.insecure_channel(f"127.0.0.1:{port}")


@pytest.fixture(scope="module")
def channel(settings) -> Iterator[grpc.Channel]:
    server, channel = start_server(TokenVerifier(settings))
    yield channel
    channel.close()
    server.stop(None)


def call(channel: grpc.Channel, method: str = "Who", metadata: list[tuple[str, str]] | None = None) -> dict | None:
    return json.loads(channel.unary_unary(f"/{PROBE}/{method}")(b"", metadata=metadata, timeout=10))


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def denial(channel: grpc.Channel, metadata: list[tuple[str, str]] | None, method: str = "Who") -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call(channel, method, metadata)
    assert "Traceback" not in raised.value.details()
    return raised.value


def test_a_user_token_makes_the_user_the_principal(channel, settings):
    token = TokenMinter(replace(settings, audience="ragline")).mint("alice", "acme", ("eng",), roles=("analyst",))
    assert call(channel, metadata=bearer(token)) == AS_SEEN


@pytest.mark.parametrize("metadata", [None, [("authorization", "Basic YWxpY2U6c2VjcmV0")]])
def test_a_call_without_a_bearer_token_is_unauthenticated(channel, metadata):
    error = denial(channel, metadata)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.details() == "missing bearer token: send 'authorization: Bearer <jwt>'"


def test_a_bad_token_is_unauthenticated_with_the_reason(channel):
    error = denial(channel, bearer("not-a-jwt"))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.details().startswith("malformed bearer token")


def test_streaming_methods_of_both_directions_are_authenticated(channel, settings):
    token = TokenMinter(replace(settings, audience="ragline")).mint("alice", "acme", ("eng",), roles=("analyst",))
    stream = channel.unary_stream(f"/{PROBE}/WhoStream")
    assert [json.loads(message) for message in stream(b"", metadata=bearer(token), timeout=10)] == [AS_SEEN]
    collect_call = channel.stream_unary(f"/{PROBE}/Collect")
    assert json.loads(collect_call(iter([b"a", b"b"]), metadata=bearer(token), timeout=10)) == AS_SEEN
    for method in (lambda: list(stream(b"", timeout=10)), lambda: collect_call(iter([b"a"]), timeout=10)):
        with pytest.raises(grpc.RpcError) as raised:
            method()
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_relayed_principal_applies_only_from_a_service(channel, settings):
    minter = TokenMinter(settings)
    issued = minter.mint_service_token("generation", "ragline.retrieval")
    relay = minter.relay(ALICE, "service:generation", issued.jti, "ragline.retrieval")
    assert call(channel, metadata=[*bearer(issued.token), (RELAY_HEADER, relay)]) == AS_SEEN

    user_token = TokenMinter(replace(settings, audience="ragline")).mint("mallory", "acme")
    error = denial(channel, [*bearer(user_token), (RELAY_HEADER, relay)])
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "only Ragline services may relay" in error.details()


def test_no_principal_outlives_its_call(channel, settings):
    token = TokenMinter(replace(settings, audience="ragline")).mint("alice", "acme")
    call(channel, metadata=bearer(token))
    peek = channel.unary_unary("/grpc.health.v1.Health/Peek")
    assert json.loads(peek(b"", timeout=10)) is None


def test_a_limit_raised_by_the_handler_is_resource_exhausted_with_when_to_retry(channel, settings):
    token = TokenMinter(replace(settings, audience="ragline")).mint("alice", "acme")
    error = denial(channel, bearer(token), "OverQuota")
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "used its 100 tokens" in error.details()
    trailers = dict(error.trailing_metadata())
    assert trailers["retry-after"] == "43"
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry) and retry.retry_delay.seconds == 43


def test_a_limiter_that_cannot_check_is_unavailable(channel, settings):
    token = TokenMinter(replace(settings, audience="ragline")).mint("alice", "acme")
    error = denial(channel, bearer(token), "LimiterDown")
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "retry in a few seconds" in error.details()


def test_an_unreachable_identity_provider_is_unavailable_but_services_still_call_each_other(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    verifier = TokenVerifier(replace(settings, jwks_url=f"http://127.0.0.1:{closed_port}/keys"))
    server, channel = start_server(verifier)
    try:
        user_token = TokenMinter(replace(settings, audience="ragline")).mint("alice", "acme")
        error = denial(channel, bearer(user_token))
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert "cannot fetch the token issuer's keys" in error.details()
        service_token = TokenMinter(settings).mint_service_token("generation", "ragline.retrieval").token
        assert call(channel, metadata=bearer(service_token))["subject"] == "service:generation"
    finally:
        channel.close()
        server.stop(None)
