"""The six services as local processes for a benchmark run, on the broker and
Redis named by the environment, with a data folder of their own.

Each pipeline stage gets a consumer group of its own that starts at the end of
its topic, so a run processes only what it publishes, never the history left
on the broker by earlier runs.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from ragline.auth import TokenSettings, init_keys
from ragline.cli.launcher import ServiceLauncher, free_addresses, start_group_at_end
from ragline.kafka import CHUNKS, DOCUMENTS, EMBEDDINGS

STAGE_TOPICS = {"ingest": DOCUMENTS, "embedding": CHUNKS, "retrieval": EMBEDDINGS}


def start_platform(data: Path, settings: dict[str, str]) -> ServiceLauncher:
    """Start the six services with `settings` added to their environment (and to
    this process's, so that its clients find them); return the launcher."""
    run = uuid.uuid4().hex[:8]
    env = {"RAGLINE_DATA_DIR": str(data), **settings, **free_addresses()}
    for service in STAGE_TOPICS:
        env[f"RAGLINE_{service.upper()}_GROUP"] = f"bench-{run}-{service}"
    os.environ.update(env)
    for service, topic in STAGE_TOPICS.items():
        start_group_at_end(env[f"RAGLINE_{service.upper()}_GROUP"], topic)
    init_keys(TokenSettings.from_env())
    launcher = ServiceLauncher(data / "run", env)
    try:
        launcher.start_all(timeout=180)
    except BaseException:
        launcher.stop_all()
        raise
    return launcher
