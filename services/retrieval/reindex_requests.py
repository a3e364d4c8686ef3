"""Re-index requests and their progress, kept in Redis beside the index (docs/adr/0005).

`ragline reindex` writes the request; the retrieval service re-reads it, builds
the index anew with the named embedding service, and writes its progress:

    ragline:reindex:<alias>:request   {"request_id", "embedding_address", "requested_by", "requested_at"}
    ragline:reindex:<alias>:status    {"request_id", "state", "collection", "model", "model_version",
                                       "documents", "copied", "message", "updated_at"}

`state` is `building`, `switched` (the new collection serves, the old one is
about to be dropped), `done`, `failed` or `cancelled`. A request stays until
the next one replaces it, so a retrieval process that restarts in the middle
of a re-index starts it again; deleting it cancels a re-index in progress.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass

import redis

log = logging.getLogger(__name__)

BUILDING, SWITCHED, DONE, FAILED, CANCELLED = "building", "switched", "done", "failed", "cancelled"


def request_key(alias: str) -> str:
    return f"ragline:reindex:{alias}:request"


def status_key(alias: str) -> str:
    return f"ragline:reindex:{alias}:status"


@dataclass(frozen=True)
class ReindexRequest:
    request_id: str
    embedding_address: str
    requested_by: str = ""
    requested_at: str = ""


@dataclass(frozen=True)
class ReindexStatus:
    request_id: str
    state: str
    collection: str = ""
    model: str = ""
    model_version: str = ""
    documents: int = 0
    copied: int = 0
    message: str = ""


class ReindexRequests:
    def __init__(self, client: redis.Redis, alias: str):
        self._redis = client
        self._alias = alias
        self._failing = False

    def latest(self) -> ReindexRequest | None:
        """The standing request, or None; raises redis.RedisError when Redis cannot tell."""
        raw = self._redis.get(request_key(self._alias))
        if raw is None:
            return None
        try:
            fields = json.loads(raw)
            return ReindexRequest(
                request_id=str(fields["request_id"]),
                embedding_address=str(fields["embedding_address"]),
                requested_by=str(fields.get("requested_by", "")),
                requested_at=str(fields.get("requested_at", "")),
            )
        except (ValueError, KeyError, TypeError) as error:
            log.error("unreadable re-index request ignored", extra={"fields": {"key": request_key(self._alias), "error": str(error)}})
            return None

    def report(self, status: ReindexStatus) -> None:
        """Publish progress; losing an update to a Redis failure is only logged."""
        value = json.dumps({**asdict(status), "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        try:
            self._redis.set(status_key(self._alias), value)
        except redis.RedisError as error:
            if not self._failing:
                log.error("re-index progress not recorded in Redis", extra={"fields": {"error": str(error)}})
            self._failing = True
            return
        self._failing = False
