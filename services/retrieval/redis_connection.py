"""The Redis client of the retrieval service (REDIS_URL).

Short timeouts: what retrieval keeps in Redis (index generations, re-index
requests) must never hold up indexing or searching.
"""

from __future__ import annotations

import redis

from ragline.config import env_float, env_str


def connect_redis() -> redis.Redis:
    timeout_s = env_float("RAGLINE_RETRIEVAL_REDIS_TIMEOUT_S", 0.5, minimum=0.01)
    return redis.Redis.from_url(
        env_str("REDIS_URL", "redis://127.0.0.1:6379/0"),
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        health_check_interval=30,
    )
