"""Which prompt version answers whom, switchable at run time through Redis.

The routing of a prompt id is one Redis value: the share of callers each
version gets, pinned (one version at 100%) or split for an A/B test. A caller's
version follows from a stable hash of (prompt id, tenant, subject), so the same
person keeps the same version for as long as the split stays, and widening a
split only moves callers towards the version that grew. The service re-reads
the routing every `refresh_s`; `ragline prompts pin|split` changes it and a
rollback is a pin to the previous version, both without a restart. Every
change is appended to a log that `ragline prompts show` prints.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import redis

from ragline.auth import Principal
from ragline.config import ConfigError
from services.generation.prompts import PROMPTS_DIR, PromptTemplate, available_versions, load_prompt, parse_ref

log = logging.getLogger(__name__)

BUCKETS = 10_000
_CHANGES_KEPT = 50


def routing_key(prompt_id: str) -> str:
    return f"ragline:prompts:{prompt_id}:routing"


def changes_key(prompt_id: str) -> str:
    return f"ragline:prompts:{prompt_id}:changes"


@dataclass(frozen=True)
class PromptRouting:
    """Percent of callers per version, ordered by version number; the shares add up to 100."""

    shares: tuple[tuple[str, int], ...]

    @classmethod
    def pinned(cls, version: str) -> "PromptRouting":
        return cls(((version, 100),))

    @classmethod
    def split(cls, shares: Mapping[str, int]) -> "PromptRouting":
        kept = {version: share for version, share in shares.items() if share}
        malformed = [version for version in kept if not re.fullmatch(r"v\d+", version)]
        if malformed:
            raise ValueError(f"versions are written v<N>, e.g. v2; got {malformed}")
        if any(share < 0 for share in kept.values()) or sum(kept.values()) != 100:
            raise ValueError(f"the shares must be whole percents that add up to 100, got {dict(shares)}")
        # Ordered by version so that growing one version's share moves only the
        # boundary next to it: nobody outside the change switches version.
        return cls(tuple(sorted(kept.items(), key=lambda item: int(item[0][1:]))))

    @property
    def versions(self) -> list[str]:
        return [version for version, _ in self.shares]

    def version_for(self, prompt_id: str, tenant: str, subject: str) -> str:
        point = assignment_bucket(prompt_id, tenant, subject)
        bound = 0
        for version, share in self.shares:
            bound += share * BUCKETS // 100
            if point < bound:
                return version
        return self.shares[-1][0]

    def to_json(self) -> str:
        return json.dumps({"shares": dict(self.shares)})

    @classmethod
    def from_json(cls, raw: str | bytes) -> "PromptRouting":
        return cls.split(json.loads(raw)["shares"])

    def describe(self) -> str:
        if len(self.shares) == 1:
            return f"pinned to {self.shares[0][0]}"
        return "split " + ", ".join(f"{version} {share}%" for version, share in self.shares)


def assignment_bucket(prompt_id: str, tenant: str, subject: str) -> int:
    """A caller's place in [0, BUCKETS): the same every time, on every replica."""
    digest = hashlib.sha256(f"{prompt_id}\x00{tenant}\x00{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


class PromptRoutingStore:
    """The routing of each prompt id in Redis, and the log of its changes."""

    def __init__(self, client: redis.Redis):
        self._redis = client

    def get(self, prompt_id: str) -> PromptRouting | None:
        raw = self._redis.get(routing_key(prompt_id))
        return PromptRouting.from_json(raw) if raw else None

    def set(self, prompt_id: str, routing: PromptRouting, changed_by: str) -> None:
        change = json.dumps({"at": time.time(), "by": changed_by, "routing": routing.describe()})
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(routing_key(prompt_id), routing.to_json())
            pipe.lpush(changes_key(prompt_id), change)
            pipe.ltrim(changes_key(prompt_id), 0, _CHANGES_KEPT - 1)
            pipe.execute()

    def changes(self, prompt_id: str, count: int = 10) -> list[dict]:
        return [json.loads(raw) for raw in self._redis.lrange(changes_key(prompt_id), 0, count - 1)]


class PromptRegistry:
    """Serves the template version the routing gives a caller.

    Every version on disk is loaded and checked at start, so a switch at run
    time can only pick a template known to render. When Redis cannot be read
    the last routing read stays in force; a routing that names a version this
    service does not have is ignored (with an error log) in favour of the default.
    """

    def __init__(
        self,
        default_ref: str,
        store: PromptRoutingStore,
        refresh_s: float = 1.0,
        directory: Path = PROMPTS_DIR,
    ):
        self.prompt_id, default_version = parse_ref(default_ref)
        self._templates = {
            version: load_prompt(f"{self.prompt_id}@{version}", directory)
            for version in available_versions(self.prompt_id, directory)
        }
        if default_version not in self._templates:
            raise ConfigError(f"prompt {default_ref} not found in {directory}")
        self._default = PromptRouting.pinned(default_version)
        self._store = store
        self._refresh_s = refresh_s
        self._routing = self._default
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def select(self, principal: Principal) -> PromptTemplate:
        routing = self.routing()
        return self._templates[routing.version_for(self.prompt_id, principal.tenant, principal.subject)]

    def routing(self) -> PromptRouting:
        with self._lock:
            if time.monotonic() - self._read_at >= self._refresh_s:
                self._routing = self._read()
                self._read_at = time.monotonic()
            return self._routing

    def _read(self) -> PromptRouting:
        try:
            routing = self._store.get(self.prompt_id)
        except (redis.RedisError, ValueError, KeyError) as error:
            log.warning("prompt routing unreadable, keeping the last one", extra={"fields": {"error": str(error)}})
            return self._routing
        if routing is None:
            return self._default
        unknown = [version for version in routing.versions if version not in self._templates]
        if unknown:
            fields = {"prompt": self.prompt_id, "unknown_versions": unknown, "routing": routing.describe()}
            log.error("prompt routing names versions this service does not have; using the default", extra={"fields": fields})
            return self._default
        return routing


class FixedPrompt:
    """The same template for every caller: for evaluating one version."""

    def __init__(self, template: PromptTemplate):
        self._template = template

    def select(self, principal: Principal) -> PromptTemplate:
        return self._template
