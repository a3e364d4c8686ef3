"""Which OpenAI-compatible endpoints answer, in routing order.

Either a file (RAGLINE_MODEL_ENDPOINTS_FILE, TOML, one [[endpoints]] table per
endpoint, the first is tried first), or one endpoint from RAGLINE_MODEL_* /
OPENAI_* variables. Neither means no model: answers are extractive.

Each endpoint is cleared up to a sensitivity (`max_sensitivity`); one that
does not say is cleared for public content only, so forgetting the mark can
keep content from a model but never send it somewhere it may not go.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ragline.auth import CLEARANCES
from ragline.config import ConfigError, env_float
from ragline.v1 import common_pb2

DEFAULT_MAX_SENSITIVITY = "public"

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class ModelEndpoint:
    name: str
    base_url: str
    model: str
    api_key: str
    timeout_s: float
    # The price table entry for this endpoint's calls: a [models.<price>] or an
    # [on_premises.<price>] entry; by default the model name.
    price: str
    # The highest Sensitivity value this endpoint may receive.
    max_sensitivity: int = common_pb2.SENSITIVITY_PUBLIC

    @property
    def server(self) -> tuple[str, int]:
        parts = urlsplit(self.base_url)
        return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def endpoints_from_env() -> list[ModelEndpoint]:
    path = os.environ.get("RAGLINE_MODEL_ENDPOINTS_FILE", "").strip()
    timeout_s = env_float("RAGLINE_MODEL_TIMEOUT_S", 60.0, minimum=0.1)
    if path:
        return load_endpoints(Path(path), timeout_s)
    single = _single_endpoint(timeout_s)
    return [single] if single else []


def _single_endpoint(timeout_s: float) -> ModelEndpoint | None:
    """RAGLINE_MODEL_* win; the standard OPENAI_BASE_URL / OPENAI_API_KEY are the
    fallback, so an environment already set up for the openai client works."""
    base_url = _first_set("RAGLINE_MODEL_BASE_URL", "OPENAI_BASE_URL")
    api_key = _first_set("RAGLINE_MODEL_API_KEY", "OPENAI_API_KEY")
    if not base_url and not api_key:
        return None
    model = os.environ.get("RAGLINE_MODEL_NAME", "").strip()
    if not model:
        raise ConfigError("RAGLINE_MODEL_NAME is required when a model endpoint or API key is configured")
    return ModelEndpoint(
        name="default",
        base_url=_checked_url(base_url or "https://api.openai.com/v1", "RAGLINE_MODEL_BASE_URL"),
        # Self-hosted endpoints often need no key, but the client insists on one.
        api_key=api_key or "unused",
        model=model,
        timeout_s=timeout_s,
        price=model,
        max_sensitivity=_sensitivity(
            os.environ.get("RAGLINE_MODEL_MAX_SENSITIVITY", "").strip() or DEFAULT_MAX_SENSITIVITY,
            "RAGLINE_MODEL_MAX_SENSITIVITY",
        ),
    )


def load_endpoints(path: Path, default_timeout_s: float) -> list[ModelEndpoint]:
    where = f"RAGLINE_MODEL_ENDPOINTS_FILE={path}"
    try:
        entries = tomllib.loads(path.read_text(encoding="utf-8")).get("endpoints", [])
    except OSError as error:
        raise ConfigError(f"{where}: cannot read it: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where} is not valid TOML: {error}") from None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where} lists no [[endpoints]]")
    endpoints = [_endpoint(entry, where, default_timeout_s) for entry in entries]
    names = [endpoint.name for endpoint in endpoints]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: endpoint names must be unique, got {names}")
    return endpoints


def _endpoint(entry: object, where: str, default_timeout_s: float) -> ModelEndpoint:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: each [[endpoints]] entry must be a table")
    name = str(entry.get("name", ""))
    if not _NAME.match(name):
        raise ConfigError(f"{where}: endpoint name {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
    model = str(entry.get("model", "")).strip()
    if not model:
        raise ConfigError(f"{where}: endpoint {name} has no model")
    key_variable = str(entry.get("api_key_env", ""))
    api_key = os.environ.get(key_variable, "").strip() if key_variable else ""
    if key_variable and not api_key:
        raise ConfigError(f"{where}: endpoint {name} takes its key from {key_variable}, which is not set")
    timeout_s = entry.get("timeout_s", default_timeout_s)
    if not isinstance(timeout_s, (int, float)) or timeout_s <= 0:
        raise ConfigError(f"{where}: endpoint {name} has timeout_s={timeout_s!r}; use a positive number of seconds")
    return ModelEndpoint(
        name=name,
        base_url=_checked_url(str(entry.get("base_url", "")), f"{where}: endpoint {name} base_url"),
        api_key=api_key or "unused",
        model=model,
        timeout_s=float(timeout_s),
        price=str(entry.get("price", model)),
        max_sensitivity=_sensitivity(
            entry.get("max_sensitivity", DEFAULT_MAX_SENSITIVITY), f"{where}: endpoint {name} max_sensitivity"
        ),
    )


def _sensitivity(label: object, what: str) -> int:
    if not isinstance(label, str) or label.strip().lower() not in CLEARANCES:
        raise ConfigError(f"{what}={label!r}: use one of {', '.join(CLEARANCES)}")
    return CLEARANCES[label.strip().lower()]


def _checked_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what}={url!r} is not an http(s) URL")
    return url


def _first_set(*names: str) -> str:
    return next((value for value in (os.environ.get(name, "").strip() for name in names) if value), "")
