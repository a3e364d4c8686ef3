"""Per-tenant index generations in Redis, for the answer cache.

After every change to what a tenant's searches can return, retrieval
increments `ragline:index-generation:<tenant>`; generation keys cached answers
by it, so an answer given before the change is never served after it.

Redis being down never holds up indexing: the tenants whose generation is due
are kept, and counted once Redis answers again (one increment per tenant is
enough to make the old answers unreachable).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Iterable

import redis

log = logging.getLogger(__name__)

# After a failure, Redis is left alone this long, so that indexing does not
# wait on a connection timeout for every event.
RETRY_AFTER_S = 5.0


def index_generation_key(tenant: str) -> str:
    return f"ragline:index-generation:{tenant}"


class IndexGenerations:
    def __init__(self, client: redis.Redis, retry_after_s: float = RETRY_AFTER_S):
        self._redis = client
        self._retry_after_s = retry_after_s
        self._due: set[str] = set()
        self._retry_at = 0.0
        self._failing = False
        self._lock = threading.Lock()

    def bump(self, tenants: Iterable[str]) -> None:
        """Increment the generation of each tenant, now or once Redis is back."""
        with self._lock:
            self._due.update(tenants)
            if not self._due or time.monotonic() < self._retry_at:
                return
            try:
                with self._redis.pipeline(transaction=False) as pipe:
                    for tenant in sorted(self._due):
                        pipe.incr(index_generation_key(tenant))
                    pipe.execute()
            except redis.RedisError as error:
                self._retry_at = time.monotonic() + self._retry_after_s
                if not self._failing:
                    log.error(
                        "index generations not counted; indexing goes on and counts them when Redis is back",
                        extra={"fields": {"error": str(error), "tenants_due": len(self._due)}},
                    )
                self._failing = True
                return
            if self._failing:
                log.info("index generations counted again", extra={"fields": {"tenants": len(self._due)}})
            self._failing = False
            self._due.clear()
