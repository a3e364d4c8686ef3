"""Rate limits and daily quotas against the real Redis (REDIS_URL)."""

from __future__ import annotations

import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from ragline import ratelimit
from ragline.auth import Principal
from ragline.ratelimit import LimiterUnavailable, LimitExceeded, LimitSettings, QuotaExceeded, RequestLimiter, UsageQuota

pytestmark = pytest.mark.integration


def limits(**overrides) -> LimitSettings:
    return replace(LimitSettings.from_env(), **overrides)


def user(tenant: str, name: str = "alice") -> Principal:
    return Principal(name, tenant, (), 0)


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def admitted(limiter: RequestLimiter, principal: Principal) -> bool:
    try:
        limiter.admit(principal)
        return True
    except LimitExceeded:
        return False


def test_concurrent_requests_admit_exactly_the_limit_per_principal(tenant):
    settings = limits(principal_per_minute=20, tenant_per_minute=0)
    limiter = RequestLimiter(settings.client(), settings)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: admitted(limiter, user(tenant)), range(60)))
    assert sum(results) == 20
    assert admitted(limiter, user(tenant, "bob")), "another principal has a budget of its own"


def test_the_tenant_limit_spans_its_principals_and_says_which_limit_refused(tenant):
    settings = limits(principal_per_minute=10, tenant_per_minute=3)
    limiter = RequestLimiter(settings.client(), settings)
    assert [admitted(limiter, user(tenant, f"user-{n}")) for n in range(3)] == [True, True, True]
    with pytest.raises(LimitExceeded, match=f"3 requests per minute for tenant '{tenant}'") as refused:
        limiter.admit(user(tenant, "user-4"))
    assert refused.value.scope == "tenant" and 0 < refused.value.retry_after_s <= 60
    assert admitted(limiter, user(f"{tenant}-other", "user-4"))


def test_the_window_slides_and_refused_requests_do_not_count(tenant):
    settings = limits(principal_per_minute=2, tenant_per_minute=0)
    limiter = RequestLimiter(settings.client(), settings, window_s=2.0)
    assert [admitted(limiter, user(tenant)) for _ in range(2)] == [True, True]
    with pytest.raises(LimitExceeded) as refused:
        limiter.admit(user(tenant))
    for _ in range(5):
        assert not admitted(limiter, user(tenant))
    assert refused.value.scope == "principal" and 0 < refused.value.retry_after_s <= 2.0
    time.sleep(refused.value.retry_after_s + 0.05)
    assert admitted(limiter, user(tenant))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_without_redis_the_policy_decides_open_or_closed(tenant):
    down = limits(redis_url=f"redis://127.0.0.1:{closed_port()}/0", principal_per_minute=1, tokens_per_day=1)
    open_limiter = RequestLimiter(down.client(), down)
    for _ in range(3):
        open_limiter.admit(user(tenant))
    UsageQuota(down.client(), down).check(tenant)

    closed = replace(down, fail_open=False)
    with pytest.raises(LimiterUnavailable, match="retry in a few seconds"):
        RequestLimiter(closed.client(), closed).admit(user(tenant))
    with pytest.raises(LimiterUnavailable):
        UsageQuota(closed.client(), closed).check(tenant)
    UsageQuota(closed.client(), closed).record(tenant, 10, 0.1)


def test_daily_token_and_cost_quotas_refuse_until_midnight_utc(tenant):
    settings = limits(tokens_per_day=1000, cost_per_day=1.5)
    quota = UsageQuota(settings.client(), settings)
    quota.check(tenant)
    quota.record(tenant, 600, 0.5)
    quota.check(tenant)
    quota.record(tenant, 400, 0.25)
    with pytest.raises(QuotaExceeded, match="used its 1000 tokens for today") as refused:
        quota.check(tenant)
    assert refused.value.scope == "tenant_tokens_per_day" and 0 < refused.value.retry_after_s <= 86400

    other = f"{tenant}-b"
    quota.record(other, 10, 0.75)
    quota.check(other)
    quota.record(other, 10, 0.75)
    with pytest.raises(QuotaExceeded, match="cost quota of 1.5") as refused:
        quota.check(other)
    assert refused.value.scope == "tenant_cost_per_day"


def test_the_module_functions_use_the_configured_quota(monkeypatch, tenant):
    monkeypatch.setenv("RAGLINE_QUOTA_TOKENS_PER_DAY", "100")
    monkeypatch.setattr(ratelimit, "_quota", None)
    ratelimit.check(tenant)
    ratelimit.record_usage(tenant, 100, 0.0)
    with pytest.raises(QuotaExceeded):
        ratelimit.check(tenant)
