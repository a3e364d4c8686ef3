"""The price table (config/prices.toml): token usage into money, and traffic into a monthly bill."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ragline.config import ConfigError, env_str

PRICES_FILE = Path(__file__).parent / "config" / "prices.toml"
HOURS_PER_MONTH = 730
DAYS_PER_MONTH = HOURS_PER_MONTH / 24


@dataclass(frozen=True)
class TokenPrice:
    """A cloud endpoint: billed per token."""

    input_per_million: float
    output_per_million: float

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float:
        return (prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million) / 1e6


@dataclass(frozen=True)
class OnPremisesPrice:
    """An on-premises endpoint: billed by the hour, whatever the traffic."""

    hourly: float
    # Completion tokens per second one server sustains.
    tokens_per_second: float

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float:
        # The call's share of a server hour at full load; prompt tokens are
        # already in the measured throughput.
        return completion_tokens * self.hourly / (self.tokens_per_second * 3600)


@dataclass(frozen=True)
class Traffic:
    requests_per_day: float
    prompt_tokens: float
    completion_tokens: float
    # Busiest hour's rate over the day's average: the on-premises fleet is sized for it.
    peak_factor: float = 3.0


@dataclass(frozen=True)
class Projection:
    price: str
    kind: str  # "cloud" or "on-premises"
    monthly: float
    # On-premises servers needed at the peak; 0 for cloud.
    servers: int = 0


@dataclass(frozen=True)
class PriceTable:
    version: str
    currency: str
    models: dict[str, TokenPrice]
    on_premises: dict[str, OnPremisesPrice]

    @classmethod
    def from_env(cls) -> "PriceTable":
        return cls.load(Path(env_str("RAGLINE_GENERATION_PRICES_FILE", str(PRICES_FILE))))

    @classmethod
    def load(cls, path: Path) -> "PriceTable":
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"price table {path}: cannot read it: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"price table {path} is not valid TOML: {error}") from None
        try:
            models = {
                name: TokenPrice(float(entry["input_per_million"]), float(entry["output_per_million"]))
                for name, entry in data.get("models", {}).items()
            }
            on_premises = {
                name: OnPremisesPrice(float(entry["hourly"]), float(entry["tokens_per_second"]))
                for name, entry in data.get("on_premises", {}).items()
            }
            table = cls(str(data["version"]), str(data.get("currency", "USD")), models, on_premises)
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(
                f"price table {path}: needs `version`, input_per_million/output_per_million per [models.X] "
                f"and hourly/tokens_per_second per [on_premises.X]: {error!r}"
            ) from None
        negative = [name for name, p in models.items() if min(p.input_per_million, p.output_per_million) < 0]
        negative += [name for name, p in on_premises.items() if p.hourly < 0 or p.tokens_per_second <= 0]
        if negative:
            raise ConfigError(f"price table {path}: prices must be >= 0 and throughput > 0, see {negative}")
        return table

    def cost(self, price: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """What one call cost, or None when the table has no entry named `price`."""
        entry = self.models.get(price) or self.on_premises.get(price)
        return entry.cost(prompt_tokens, completion_tokens) if entry else None

    def project(self, traffic: Traffic) -> list[Projection]:
        """The monthly bill of this traffic on each cloud model and each on-premises server type, cheapest first."""
        per_month = traffic.requests_per_day * DAYS_PER_MONTH
        projections = [
            Projection(name, "cloud", per_month * price.cost(traffic.prompt_tokens, traffic.completion_tokens))
            for name, price in self.models.items()
        ]
        peak_tokens_per_s = traffic.requests_per_day / 86400 * traffic.peak_factor * traffic.completion_tokens
        for name, price in self.on_premises.items():
            servers = max(1, math.ceil(peak_tokens_per_s / price.tokens_per_second))
            projections.append(Projection(name, "on-premises", servers * price.hourly * HOURS_PER_MONTH, servers))
        return sorted(projections, key=lambda projection: projection.monthly)
