"""What the gRPC server tests share: real signing keys in a temporary folder, tokens minted with them,
and a real gRPC server on loopback behind the platform's token check."""

from __future__ import annotations

from concurrent import futures
from typing import Callable, Iterator, TypeVar

import grpc
import pytest

from ragline.auth import TokenMinter, TokenSettings, TokenVerifier, init_keys
from ragline.rpc import AuthInterceptor

Servicer = TypeVar("Servicer")
Bearer = Callable[..., list[tuple[str, str]]]


@pytest.fixture(scope="module")
def token_settings(tmp_path_factory: pytest.TempPathFactory) -> TokenSettings:
    keys = tmp_path_factory.mktemp("keys")
    settings = TokenSettings("https://issuer.test", "ragline", keys / "jwks.json", keys / "key.pem", 900, 5)
    init_keys(settings)
    return settings


@pytest.fixture(scope="module")
def bearer(token_settings: TokenSettings) -> Bearer:
    """bearer(subject, tenant, **claims): call metadata with a token for them (claims as TokenMinter.mint takes)."""
    minter = TokenMinter(token_settings)

    def metadata(subject: str = "alice", tenant: str = "acme", **claims) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {minter.mint(subject, tenant, **claims)}")]

    return metadata


@pytest.fixture
def serve(token_settings: TokenSettings) -> Iterator[Callable[[Callable[[Servicer, grpc.Server], None], Servicer], grpc.Channel]]:
    """serve(add_servicer_to_server, servicer): a channel to a server on loopback that checks tokens as the
    services do; servers and channels are closed after the test."""
    started: list[tuple[grpc.Server, grpc.Channel]] = []

    def start(register: Callable[[Servicer, grpc.Server], None], servicer: Servicer) -> grpc.Channel:
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4), interceptors=[AuthInterceptor(TokenVerifier(token_settings))]
        )
        register(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        started.append((server, channel))
        return channel

    yield start
    for server, channel in started:
        channel.close()
        server.stop(None).wait()
