"""Request rate limits and daily usage quotas, kept in Redis so that every
replica counts against the same limits (docs/adr/0010).

Requests per minute, per principal and per tenant, use a sliding-window log:
one Lua script trims both logs, checks both limits and records the request
only if both admit it, atomically, so two replicas never both take the last
slot. Tokens and cost per day per tenant are counters that generation adds to
after each answer (`record_usage`) and that `check` compares with the quotas
before the next one.

If Redis cannot be reached, RAGLINE_RATELIMIT_ON_REDIS_ERROR decides: `open`
(the default) admits the request and logs, `closed` refuses it as UNAVAILABLE.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ragline.auth import Principal
from ragline.config import ConfigError, env_float, env_int, env_str

log = logging.getLogger(__name__)

Result = TypeVar("Result")

DEFAULT_METHODS = (
    "ragline.v1.GenerationService/Answer",
    "ragline.v1.GenerationService/AnswerStream",
    "ragline.v1.RetrievalService/Search",
)
# After a failed call, Redis is left alone this long: a partition must not
# add a timeout to every request.
_BACKOFF_S = 1.0
_DAY_S = 86400

# KEYS: the principal's and the tenant's request logs (sorted sets of request
# ids scored by arrival, in ms). ARGV: their limits (0 = none), the window in
# ms, this request's id. Returns {admitted, ms until a slot frees, index of
# the key that refused}.
_SLIDING_WINDOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local window = tonumber(ARGV[3])
local wait, refused = 0, 0
for i = 1, #KEYS do
  local limit = tonumber(ARGV[i])
  if limit > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
    local count = redis.call('ZCARD', KEYS[i])
    if count >= limit then
      local blocking = redis.call('ZRANGE', KEYS[i], count - limit, count - limit, 'WITHSCORES')
      local free_in = tonumber(blocking[2]) + window - now
      if free_in > wait then wait, refused = free_in, i end
    end
  end
end
if refused > 0 then return {0, wait, refused} end
for i = 1, #KEYS do
  if tonumber(ARGV[i]) > 0 then
    redis.call('ZADD', KEYS[i], now, ARGV[4])
    redis.call('PEXPIRE', KEYS[i], window)
  end
end
return {1, 0, 0}
"""


class LimitExceeded(Exception):
    """A limit refuses the request (RESOURCE_EXHAUSTED); retry after `retry_after_s`."""

    def __init__(self, message: str, scope: str, limit: int | float, retry_after_s: float):
        super().__init__(message)
        self.scope = scope
        self.limit = limit
        self.retry_after_s = retry_after_s


class QuotaExceeded(LimitExceeded):
    """A tenant's daily quota of tokens or cost is used up."""


class LimiterUnavailable(Exception):
    """Redis is unreachable and the policy is to fail closed (UNAVAILABLE)."""


@dataclass(frozen=True)
class LimitSettings:
    redis_url: str
    methods: frozenset[str]
    principal_per_minute: int
    tenant_per_minute: int
    tokens_per_day: int
    cost_per_day: float
    fail_open: bool
    timeout_s: float

    @classmethod
    def from_env(cls) -> "LimitSettings":
        policy = env_str("RAGLINE_RATELIMIT_ON_REDIS_ERROR", "open").lower()
        if policy not in ("open", "closed"):
            raise ConfigError(f"RAGLINE_RATELIMIT_ON_REDIS_ERROR={policy!r}: use open or closed")
        methods = frozenset(
            name.strip().strip("/")
            for name in env_str("RAGLINE_RATELIMIT_METHODS", ",".join(DEFAULT_METHODS)).split(",")
            if name.strip() and name.strip() != "none"
        )
        malformed = sorted(name for name in methods if name.count("/") != 1 or "." not in name.split("/")[0])
        if malformed:
            raise ConfigError(
                f"RAGLINE_RATELIMIT_METHODS has {', '.join(malformed)}: name methods as package.Service/Method, or none"
            )
        return cls(
            redis_url=env_str("REDIS_URL", "redis://127.0.0.1:6379/0"),
            methods=methods,
            principal_per_minute=env_int("RAGLINE_RATELIMIT_PRINCIPAL_PER_MINUTE", 1200, minimum=0),
            tenant_per_minute=env_int("RAGLINE_RATELIMIT_TENANT_PER_MINUTE", 12000, minimum=0),
            tokens_per_day=env_int("RAGLINE_QUOTA_TOKENS_PER_DAY", 0, minimum=0),
            cost_per_day=env_float("RAGLINE_QUOTA_COST_PER_DAY", 0.0, minimum=0.0),
            fail_open=policy == "open",
            timeout_s=env_float("RAGLINE_RATELIMIT_REDIS_TIMEOUT_S", 0.25, minimum=0.01),
        )

    def client(self) -> redis.Redis:
        # One retry: a pooled connection that died with a Redis restart is
        # reconnected once, then the failure policy applies.
        return redis.Redis.from_url(
            self.redis_url,
            socket_timeout=self.timeout_s,
            socket_connect_timeout=self.timeout_s,
            retry=Retry(NoBackoff(), 1),
        )


class _Redis:
    """Redis calls under the failure policy: a result, or None when Redis is
    down and the policy is open."""

    def __init__(self, client: redis.Redis, fail_open: bool):
        self.client = client
        self._fail_open = fail_open
        self._down_until = 0.0

    def run(self, call: Callable[[], Result]) -> Result | None:
        if time.monotonic() < self._down_until:
            return self._unavailable("not answering (retried after a pause)")
        try:
            return call()
        except redis.RedisError as error:
            self._down_until = time.monotonic() + _BACKOFF_S
            log.warning("redis unavailable", extra={"fields": {"error": str(error), "fail_open": self._fail_open}})
            return self._unavailable(str(error))

    def _unavailable(self, reason: str) -> None:
        if not self._fail_open:
            raise LimiterUnavailable(f"rate limits cannot be checked (Redis {reason}): retry in a few seconds")
        return None


def _window_name(window_s: float) -> str:
    return "minute" if window_s == 60 else f"{window_s:g} s"


class RequestLimiter:
    """Requests per window, per principal and per tenant, for the configured methods."""

    def __init__(self, client: redis.Redis, settings: LimitSettings, window_s: float = 60.0):
        self._settings = settings
        self._redis = _Redis(client, settings.fail_open)
        self._script = client.register_script(_SLIDING_WINDOW)
        self._window_s = window_s

    @classmethod
    def from_env(cls) -> "RequestLimiter":
        settings = LimitSettings.from_env()
        return cls(settings.client(), settings)

    def applies(self, method: str) -> bool:
        return method in self._settings.methods

    def admit(self, principal: Principal) -> None:
        """Count one request, or raise LimitExceeded without counting it."""
        limits = (self._settings.principal_per_minute, self._settings.tenant_per_minute)
        if not any(limits):
            return
        # The tenant is the hash tag: both keys live in one Redis Cluster slot, as one script requires.
        tag = f"ragline:ratelimit:{{{principal.tenant or '-'}}}"
        keys = [f"{tag}:principal:{principal.subject}", f"{tag}:tenant"]
        args = [*limits, int(self._window_s * 1000), uuid.uuid4().hex]
        result = self._redis.run(lambda: self._script(keys=keys, args=args))
        if result is None or int(result[0]) == 1:
            return
        wait_s = int(result[1]) / 1000
        scope, limit = ("principal", limits[0]) if int(result[2]) == 1 else ("tenant", limits[1])
        who = f"{principal.subject} of tenant {principal.tenant!r}" if scope == "principal" else f"tenant {principal.tenant!r}"
        raise LimitExceeded(
            f"rate limit of {limit} requests per {_window_name(self._window_s)} for {who} reached: "
            f"retry in {max(1, round(wait_s))} s",
            scope,
            limit,
            wait_s,
        )


class UsageQuota:
    """Tokens and cost per UTC day per tenant."""

    def __init__(self, client: redis.Redis, settings: LimitSettings):
        self._settings = settings
        self._redis = _Redis(client, settings.fail_open)

    @classmethod
    def from_env(cls) -> "UsageQuota":
        settings = LimitSettings.from_env()
        return cls(settings.client(), settings)

    def check(self, tenant: str) -> None:
        """Raise QuotaExceeded when the tenant has used up today's tokens or cost."""
        if not (self._settings.tokens_per_day or self._settings.cost_per_day):
            return
        used = self._redis.run(lambda: self._redis.client.hmget(_usage_key(tenant), "tokens", "cost_micros"))
        if used is None:
            return
        tokens, cost = int(used[0] or 0), int(used[1] or 0) / 1_000_000
        wait_s = _seconds_to_midnight()
        if self._settings.tokens_per_day and tokens >= self._settings.tokens_per_day:
            limit: int | float = self._settings.tokens_per_day
            raise QuotaExceeded(
                f"tenant {tenant!r} used its {limit} tokens for today (UTC): retry in {round(wait_s)} s, after midnight UTC",
                "tenant_tokens_per_day",
                limit,
                wait_s,
            )
        if self._settings.cost_per_day and cost >= self._settings.cost_per_day:
            limit = self._settings.cost_per_day
            raise QuotaExceeded(
                f"tenant {tenant!r} reached its cost quota of {limit:g} for today (UTC): "
                f"retry in {round(wait_s)} s, after midnight UTC",
                "tenant_cost_per_day",
                limit,
                wait_s,
            )

    def record(self, tenant: str, tokens: int, cost: float) -> None:
        """Add one answer's usage to today's counters. Never raises for Redis:
        the answer was already given, and losing its count beats failing it."""
        if tokens < 0 or cost < 0:
            raise ValueError(f"usage cannot be negative (tokens={tokens}, cost={cost})")
        key = _usage_key(tenant)

        def increment() -> None:
            pipeline = self._redis.client.pipeline(transaction=True)
            pipeline.hincrby(key, "tokens", tokens)
            pipeline.hincrby(key, "cost_micros", round(cost * 1_000_000))
            pipeline.expire(key, 2 * _DAY_S)
            pipeline.execute()

        try:
            self._redis.run(increment)
        except LimiterUnavailable:
            log.error("usage not recorded", extra={"fields": {"tenant": tenant, "tokens": tokens, "cost": cost}})


def _usage_key(tenant: str) -> str:
    day = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    return f"ragline:quota:{{{tenant or '-'}}}:{day}"


def _seconds_to_midnight() -> float:
    now = datetime.datetime.now(datetime.timezone.utc)
    midnight = datetime.datetime.combine(now.date() + datetime.timedelta(days=1), datetime.time(), datetime.timezone.utc)
    return (midnight - now).total_seconds()


_quota: UsageQuota | None = None
_quota_lock = threading.Lock()


def _default_quota() -> UsageQuota:
    global _quota
    with _quota_lock:
        if _quota is None:
            _quota = UsageQuota.from_env()
        return _quota


def check(tenant: str) -> None:
    """Raise QuotaExceeded when `tenant` has no daily quota left. Raised from
    a gRPC handler, the server's interceptor turns it into RESOURCE_EXHAUSTED
    with `retry-after`."""
    _default_quota().check(tenant)


def record_usage(tenant: str, tokens: int, cost: float) -> None:
    """Count one answer's tokens and cost against `tenant`'s daily quota."""
    _default_quota().record(tenant, tokens, cost)
