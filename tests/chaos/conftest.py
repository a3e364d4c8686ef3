"""The six services as processes against the real broker, Redis and milvus-lite,
each pipeline stage in a consumer group of its own that starts at the end of
its topic, so that the crash test sees only its own events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from ragline.auth import TokenMinter, TokenSettings, init_keys
from ragline.cli.launcher import ServiceLauncher, free_addresses, start_group_at_end
from ragline.kafka import CHUNKS, DOCUMENTS, EMBEDDINGS

# Each stage reads the topic the previous one writes; checked in this order.
STAGE_TOPICS = {"ingest": DOCUMENTS, "embedding": CHUNKS, "retrieval": EMBEDDINGS}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: kills services while events stream in (tests/chaos)")


@dataclass
class ChaosPlatform:
    data: Path
    launcher: ServiceLauncher
    tenant: str
    groups: dict[str, str]  # service -> its consumer group
    minter: TokenMinter

    @property
    def milvus_uri(self) -> str:
        return str(self.data / "milvus" / "ragline.db")

    def stages(self) -> dict[str, tuple[str, str]]:
        """Service -> (its consumer group, the topic it reads), in pipeline order."""
        return {service: (self.groups[service], topic) for service, topic in STAGE_TOPICS.items()}


@pytest.fixture(scope="module")
def chaos_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosPlatform]:
    data = tmp_path_factory.mktemp("chaos")
    run = uuid.uuid4().hex[:8]
    groups = {service: f"chaos-{run}-{service}" for service in STAGE_TOPICS}
    env = {
        "RAGLINE_DATA_DIR": str(data),
        # Spans are not what this test is about; without a collector they would only be retried and dropped.
        "OTEL_TRACES_EXPORTER": "none",
        # Small chunks keep 2,000 documents within minutes on two cores; the
        # embedding model's cost is not what this test measures.
        "RAGLINE_INGEST_CHUNK_TOKENS": "32",
        "RAGLINE_INGEST_CHUNK_OVERLAP_TOKENS": "8",
        "RAGLINE_EMBEDDING_BATCH_WAIT_S": "0.1",
        # milvus-lite scans its whole in-memory table, vectors included, on every
        # query, and retrieval queries several times per document: with the
        # default 128 MiB table, indexing slows from 25 ms to 550 ms per document
        # by 1,500 documents. A 1 MiB table flushes to segments and stays near 50 ms.
        "MILVUS_LITE_MEMTABLE_MEMORY_LIMIT_BYTES": str(1 << 20),
        **{f"RAGLINE_{service.upper()}_GROUP": group for service, group in groups.items()},
        **free_addresses(),
    }
    with pytest.MonkeyPatch.context() as environment:
        for key, value in env.items():
            environment.setenv(key, value)
        for service, topic in STAGE_TOPICS.items():
            start_group_at_end(groups[service], topic)
        settings = TokenSettings.from_env()
        init_keys(settings)
        launcher = ServiceLauncher(data / "run", env)
        try:
            launcher.start_all(timeout=180)
            yield ChaosPlatform(data, launcher, f"chaos-{run}", groups, TokenMinter(settings))
        finally:
            launcher.stop_all()
