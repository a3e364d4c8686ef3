"""Two generation processes serve one principal: the rate limit in the real
Redis holds across them, exactly."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import grpc
import pytest

from ragline.auth import TokenMinter, TokenSettings, init_keys
from ragline.cli.launcher import ServiceLauncher, free_port
from ragline.v1 import generation_pb2, generation_pb2_grpc

pytestmark = pytest.mark.integration

LIMIT = 20


@pytest.fixture(scope="module")
def generation_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[int], Path]]:
    data = tmp_path_factory.mktemp("generation")
    # Dependencies point at closed ports: an admitted question fails fast as UNAVAILABLE after the limit check.
    env = {
        "RAGLINE_DATA_DIR": str(data),
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "RAGLINE_RATELIMIT_PRINCIPAL_PER_MINUTE": str(LIMIT),
        "RAGLINE_RATELIMIT_TENANT_PER_MINUTE": "0",
        **{f"RAGLINE_{name.upper()}_ADDR": f"127.0.0.1:{free_port()}" for name in ("guardrail", "embedding", "retrieval")},
    }
    settings = TokenSettings(
        "https://ragline.local/dev-issuer", "ragline", data / "keys" / "jwks.json", data / "keys" / "signing-key.pem", 900, 30
    )
    init_keys(settings)
    launchers = []
    ports = []
    for replica in ("a", "b"):
        port = free_port()
        launcher = ServiceLauncher(data / replica, {**env, "RAGLINE_GENERATION_PORT": str(port)})
        launcher.start("generation")
        launchers.append(launcher)
        ports.append(port)
    try:
        for launcher in launchers:
            launcher.wait_ready("generation", timeout=120)
        yield ports, data
    finally:
        for launcher in launchers:
            launcher.stop("generation")


def test_two_replicas_admit_exactly_the_limit_for_one_principal(generation_ports):
    ports, data = generation_ports
    settings = TokenSettings(
        "https://ragline.local/dev-issuer", "ragline", data / "keys" / "jwks.json", data / "keys" / "signing-key.pem", 900, 30
    )
    token = TokenMinter(settings).mint(f"user-{uuid.uuid4().hex[:8]}", f"tenant-{uuid.uuid4().hex[:8]}", ("all-staff",))
    channels = [grpc.insecure_channel(f"127.0.0.1:{port}") for port in ports]
    stubs = [generation_pb2_grpc.GenerationServiceStub(channel) for channel in channels]

    def ask(number: int) -> grpc.RpcError | None:
        try:
            stubs[number % 2].Answer(
                generation_pb2.AnswerRequest(question="How long does the battery last?"),
                metadata=[("authorization", f"Bearer {token}")],
                timeout=30,
            )
        except grpc.RpcError as error:
            return error
        return None

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(ask, range(3 * LIMIT)))
    finally:
        for channel in channels:
            channel.close()

    refused = [error for error in outcomes if error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert len(outcomes) - len(refused) == LIMIT
    by_replica = {number % 2 for number, error in enumerate(outcomes) if error not in refused}
    assert by_replica == {0, 1}, "both replicas admitted some: the budget is shared, not split"
    for error in refused:
        assert f"rate limit of {LIMIT} requests per minute" in error.details()
        retry_after = int(dict(error.trailing_metadata())["retry-after"])
        assert 1 <= retry_after <= 60
