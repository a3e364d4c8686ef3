"""The six services as local processes for a benchmark run, on the broker and
Redis named by the environment, with a data folder of their own.

Each pipeline stage gets a consumer group of its own that starts at the end of
its topic, so a run processes only what it publishes, never the history left
on the broker by earlier runs.
"""

from __future__ import annotations

import os
import random
import socket
import uuid
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from ragline.auth import TokenSettings, init_keys
from ragline.cli.launcher import SERVICES, ServiceLauncher
from ragline.config import kafka_client_settings
from ragline.kafka import CHUNKS, DOCUMENTS, EMBEDDINGS

STAGE_TOPICS = {"ingest": DOCUMENTS, "embedding": CHUNKS, "retrieval": EMBEDDINGS}

# Below Linux's ephemeral range: milvus-lite binds port 0 inside retrieval, and
# gRPC's SO_REUSEPORT would let it share a port picked here with bind(0).
_PORTS = range(20000, 32000)


def _free_port() -> int:
    while True:
        port = random.randrange(_PORTS.start, _PORTS.stop)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def _start_group_at_end(group: str, topic: str) -> None:
    consumer = Consumer({**kafka_client_settings(), "group.id": group, "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = [TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]) for p in partitions]
        consumer.commit(offsets=ends, asynchronous=False)
    finally:
        consumer.close()


def start_platform(data: Path, settings: dict[str, str]) -> ServiceLauncher:
    """Start the six services with `settings` added to their environment (and to
    this process's, so that its clients find them); return the launcher."""
    run = uuid.uuid4().hex[:8]
    env = {"RAGLINE_DATA_DIR": str(data), **settings}
    for service, topic in STAGE_TOPICS.items():
        env[f"RAGLINE_{service.upper()}_GROUP"] = f"bench-{run}-{service}"
    for name in SERVICES:
        port = _free_port()
        env[f"RAGLINE_{name.upper()}_PORT"] = str(port)
        env[f"RAGLINE_{name.upper()}_ADDR"] = f"127.0.0.1:{port}"
    os.environ.update(env)
    for service, topic in STAGE_TOPICS.items():
        _start_group_at_end(env[f"RAGLINE_{service.upper()}_GROUP"], topic)
    init_keys(TokenSettings.from_env())
    launcher = ServiceLauncher(data / "run", env)
    try:
        launcher.start_all(timeout=180)
    except BaseException:
        launcher.stop_all()
        raise
    return launcher
