"""What model calls cost, per call, and accumulated per tenant, principal and endpoint in Redis.

Each call's increments run in one MULTI/EXEC transaction, so concurrent
answers on any number of replicas add up exactly and a reader never sees a
call counted in one total but not in another. Money is kept in whole
micro-units of the table's currency (integers add exactly). One tenant's keys
share the hash tag {tenant}, so the transaction stays on one slot of a Redis
cluster. Redis failing loses the running totals, not the answer: the cost of
each call is also in its audit record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping

import redis

from services.generation.pricing import PriceTable

log = logging.getLogger(__name__)

TENANTS_KEY = "ragline:cost:tenants"
_FIELDS = ("calls", "unpriced_calls", "prompt_tokens", "completion_tokens", "cost_micros")


def _key(tenant: str, *parts: str) -> str:
    return ":".join(("ragline:cost", f"{{{tenant}}}", *parts))


@dataclass(frozen=True)
class Charge:
    """The cost of one model call; `cost` is None when the price table has no entry for it."""

    endpoint: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    currency: str
    price_table: str

    def details(self) -> dict[str, str]:
        """For the audit record."""
        return {
            "endpoint": self.endpoint,
            "cost": "unpriced" if self.cost is None else f"{self.cost:.6f}",
            "currency": self.currency,
            "price_table": self.price_table,
        }


@dataclass
class Usage:
    calls: int = 0
    unpriced_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_micros: int = 0

    @property
    def cost(self) -> float:
        return self.cost_micros / 1e6

    @classmethod
    def from_hash(cls, fields: Mapping[bytes, bytes]) -> "Usage":
        return cls(**{name: int(fields.get(name.encode(), 0)) for name in _FIELDS})


@dataclass
class TenantUsage:
    tenant: str
    total: Usage
    # "<endpoint>/<model>" → usage
    endpoints: dict[str, Usage] = field(default_factory=dict)
    # The principals that cost most, most expensive first.
    principals: list[tuple[str, Usage]] = field(default_factory=list)


class CostLedger:
    def __init__(self, client: redis.Redis, prices: PriceTable, price_of_endpoint: Mapping[str, str]):
        self._redis = client
        self._prices = prices
        self._price_of_endpoint = dict(price_of_endpoint)

    def unpriced_endpoints(self) -> list[str]:
        return [name for name, price in self._price_of_endpoint.items() if self._prices.cost(price, 0, 0) is None]

    def charge(
        self, tenant: str, principal: str, endpoint: str, model: str, prompt_tokens: int, completion_tokens: int
    ) -> Charge:
        """Price one call and add it to the running totals."""
        cost = self._prices.cost(self._price_of_endpoint.get(endpoint, model), prompt_tokens, completion_tokens)
        charge = Charge(endpoint, model, prompt_tokens, completion_tokens, cost, self._prices.currency, self._prices.version)
        try:
            self._add(tenant, principal, charge)
        except redis.RedisError as error:
            fields = {"tenant": tenant, "endpoint": endpoint, "error": str(error)}
            log.error("cost not added to the running totals", extra={"fields": fields})
        return charge

    def _add(self, tenant: str, principal: str, charge: Charge) -> None:
        micros = round(charge.cost * 1e6) if charge.cost is not None else 0
        increments = {
            "calls": 1,
            "unpriced_calls": int(charge.cost is None),
            "prompt_tokens": charge.prompt_tokens,
            "completion_tokens": charge.completion_tokens,
            "cost_micros": micros,
        }
        endpoint = f"{charge.endpoint}/{charge.model}"
        with self._redis.pipeline(transaction=True) as pipe:
            for key in (_key(tenant, "total"), _key(tenant, "principal", principal), _key(tenant, "endpoint", endpoint)):
                for name, amount in increments.items():
                    pipe.hincrby(key, name, amount)
            pipe.zincrby(_key(tenant, "principals"), micros, principal)
            pipe.sadd(_key(tenant, "endpoints"), endpoint)
            pipe.execute()
        # Outside the transaction: this key is not in the tenant's slot.
        self._redis.sadd(TENANTS_KEY, tenant)


def read_usage(client: redis.Redis, tenant: str, top_principals: int = 10) -> TenantUsage:
    """A tenant's accumulated usage, for `ragline cost`."""
    endpoints = sorted(member.decode() for member in client.smembers(_key(tenant, "endpoints")))
    principals = [member.decode() for member in client.zrevrange(_key(tenant, "principals"), 0, top_principals - 1)]
    with client.pipeline(transaction=True) as pipe:
        pipe.hgetall(_key(tenant, "total"))
        for endpoint in endpoints:
            pipe.hgetall(_key(tenant, "endpoint", endpoint))
        for principal in principals:
            pipe.hgetall(_key(tenant, "principal", principal))
        total, *rest = pipe.execute()
    return TenantUsage(
        tenant=tenant,
        total=Usage.from_hash(total),
        endpoints={name: Usage.from_hash(fields) for name, fields in zip(endpoints, rest[: len(endpoints)])},
        principals=[(name, Usage.from_hash(fields)) for name, fields in zip(principals, rest[len(endpoints):])],
    )


def known_tenants(client: redis.Redis) -> list[str]:
    return sorted(member.decode() for member in client.smembers(TENANTS_KEY))
