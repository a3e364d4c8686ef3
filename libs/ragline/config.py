"""Configuration from environment variables.

Every setting has a default that works on one machine; a value that is set but
wrong stops the service at start with a message naming the variable, rather
than failing later in a way nobody can trace back to it.
"""

from __future__ import annotations

import os
from pathlib import Path


class ConfigError(ValueError):
    """A configuration variable is missing or has a bad value."""


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise ConfigError(f"{name} is required but not set")
    return default


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} is above the maximum {maximum}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum {minimum}")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """Where the embedded defaults keep their files (milvus-lite, audit log, keys)."""
    path = Path(env_str("RAGLINE_DATA_DIR", str(repo_root() / "data")))
    path.mkdir(parents=True, exist_ok=True)
    return path


def kafka_bootstrap() -> str:
    return env_str("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


def kafka_client_settings() -> dict[str, str]:
    """Connection settings shared by every Kafka client.

    Security settings pass straight through to librdkafka so that a SASL/TLS
    cluster needs no code change: KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM,
    KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SSL_CA_LOCATION.
    """
    settings = {"bootstrap.servers": kafka_bootstrap()}
    passthrough = {
        "KAFKA_SECURITY_PROTOCOL": "security.protocol",
        "KAFKA_SASL_MECHANISM": "sasl.mechanism",
        "KAFKA_SASL_USERNAME": "sasl.username",
        "KAFKA_SASL_PASSWORD": "sasl.password",
        "KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
    }
    for variable, key in passthrough.items():
        value = os.environ.get(variable, "").strip()
        if value:
            settings[key] = value
    return settings


def service_address(service: str, default_port: int) -> str:
    """host:port of a Ragline gRPC service, from RAGLINE_<SERVICE>_ADDR."""
    return env_str(f"RAGLINE_{service.upper()}_ADDR", f"127.0.0.1:{default_port}")


# One place for the default ports, so that clients and servers agree.
DEFAULT_PORTS = {
    "ingest": 50051,
    "embedding": 50052,
    "retrieval": 50053,
    "generation": 50054,
    "guardrail": 50055,
    "audit": 50056,
}


def listen_port(service: str) -> int:
    return env_int(f"RAGLINE_{service.upper()}_PORT", DEFAULT_PORTS[service], minimum=1, maximum=65535)


def target(service: str) -> str:
    return service_address(service, DEFAULT_PORTS[service])
