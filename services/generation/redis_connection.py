"""The Redis client the generation service shares between its stores."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ragline.config import env_float, env_str


def connect_redis() -> redis.Redis:
    """From REDIS_URL, with short timeouts and one immediate retry (for a pooled
    connection the server closed). The client's default of several retries
    with backoff would hold every answer for seconds while Redis is down, and
    what the service keeps in Redis is worth less than an answer that waits for it."""
    timeout_s = env_float("RAGLINE_GENERATION_REDIS_TIMEOUT_S", 0.5, minimum=0.01)
    return redis.Redis.from_url(
        env_str("REDIS_URL", "redis://127.0.0.1:6379/0"),
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )
