"""How long an answer may be, per tenant (config/answer_policy.toml)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

from ragline.config import ConfigError, env_str

POLICY_FILE = Path(__file__).parent / "config" / "answer_policy.toml"


@dataclass(frozen=True)
class AnswerPolicy:
    max_answer_chars: int = 2000
    max_answer_tokens: int = 800


class AnswerPolicies:
    def __init__(self, default: AnswerPolicy, tenants: Mapping[str, AnswerPolicy] | None = None):
        self._default = default
        self._tenants = dict(tenants or {})

    def for_tenant(self, tenant: str) -> AnswerPolicy:
        return self._tenants.get(tenant, self._default)

    @classmethod
    def from_env(cls) -> "AnswerPolicies":
        return cls.load(Path(env_str("RAGLINE_GENERATION_POLICY_FILE", str(POLICY_FILE))))

    @classmethod
    def load(cls, path: Path) -> "AnswerPolicies":
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"answer policy {path}: cannot read it: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"answer policy {path} is not valid TOML: {error}") from None
        default = _policy(AnswerPolicy(), data.get("default", {}), f"{path} [default]")
        tenants = {
            tenant: _policy(default, values, f"{path} [tenants.{tenant}]")
            for tenant, values in data.get("tenants", {}).items()
        }
        return cls(default, tenants)


def _policy(base: AnswerPolicy, values: Mapping[str, object], where: str) -> AnswerPolicy:
    unknown = set(values) - {"max_answer_chars", "max_answer_tokens"}
    if unknown:
        raise ConfigError(f"{where}: unknown settings {sorted(unknown)}")
    policy = replace(base, **values)
    for name in ("max_answer_chars", "max_answer_tokens"):
        value = getattr(policy, name)
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{where}: {name}={value!r} must be a whole number of at least 1")
    return policy
