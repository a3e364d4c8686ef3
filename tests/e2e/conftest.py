"""The whole platform as separate processes against the real broker, Redis
and milvus-lite, exporting spans to a real OTLP receiver on loopback."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from ragline.auth import TokenMinter, TokenSettings, init_keys
from ragline.cli.launcher import ServiceLauncher, free_addresses, free_port
from ragline.cli.otlp import read_spans, start_receiver
from ragline.config import repo_root

pytestmark = pytest.mark.e2e


class Platform:
    def __init__(self, data: Path, spans_file: Path, launcher: ServiceLauncher, tenant: str):
        self.data = data
        self.spans_file = spans_file
        self.launcher = launcher
        self.tenant = tenant
        self.minter = TokenMinter(TokenSettings.from_env())

    def token(self, user: str = "alice", groups: tuple[str, ...] = ("all-staff",), clearance: str = "internal", tenant: str | None = None) -> str:
        return self.minter.mint(user, self.tenant if tenant is None else tenant, groups, clearance)

    def spans(self, trace_id: str) -> list[dict]:
        return read_spans(self.spans_file, trace_id)

    def wait_for_spans(self, trace_id: str, complete: Callable[[list[dict]], bool], timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        spans: list[dict] = []
        while time.monotonic() < deadline:
            spans = self.spans(trace_id)
            if complete(spans):
                return spans
            time.sleep(0.5)
        return spans


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data = tmp_path_factory.mktemp("platform")
    spans_file = data / "spans.jsonl"
    otlp_port = free_port()
    receiver = start_receiver(spans_file, otlp_port)
    env = {
        "RAGLINE_DATA_DIR": str(data),
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "RAGLINE_EMBEDDING_BATCH_WAIT_S": "0.1",
        **free_addresses(),
    }
    with pytest.MonkeyPatch.context() as environment:
        for key, value in env.items():
            environment.setenv(key, value)
        init_keys(TokenSettings.from_env())
        from ragline.telemetry import setup_tracing

        provider = setup_tracing("e2e-upstream")
        launcher = ServiceLauncher(data / "run", env)
        try:
            launcher.start_all(timeout=180)
            yield Platform(data, spans_file, launcher, tenant=f"e2e-{uuid.uuid4().hex[:8]}")
        finally:
            launcher.stop_all()
            provider.shutdown()
            receiver.stop(0)


@pytest.fixture(scope="session")
def manifest() -> Path:
    return repo_root() / "samples" / "corpus" / "manifest.json"
