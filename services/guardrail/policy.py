"""Guardrail policies: what each screen does about each check, per tenant, from versioned files.

`policies/default.yaml` applies to every tenant; `policies/tenants/<tenant>.yaml`
overrides parts of it for one tenant. Both are under version control and
carry a `version`; a digest of the effective settings and of the detectors'
versions is appended, so a verdict's policy version names exactly what
decided it. The files are re-read when they change (see `PolicyStore`).
"""

from __future__ import annotations

import copy
import enum
import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from ragline.config import ConfigError
from ragline.v1 import guardrail_pb2

log = logging.getLogger(__name__)

ALLOW = guardrail_pb2.ACTION_ALLOW
REDACT = guardrail_pb2.ACTION_REDACT
FLAG = guardrail_pb2.ACTION_FLAG
BLOCK = guardrail_pb2.ACTION_BLOCK

# Bump with every change to the detectors.
RULES_VERSION = "rules-2026.12.2"
POLICY_DIR = Path(__file__).resolve().parent / "policies"
DEFAULT_FILE = "default.yaml"


class Screen(str, enum.Enum):
    DOCUMENT = "document"
    INPUT = "input"
    OUTPUT = "output"


@dataclass(frozen=True)
class Treatment:
    """What to do about a finding: a wire action, and for REDACT how the span is replaced."""

    name: str
    action: int
    # "redact": [REDACTED:EMAIL]; "mask": j***@corp.example; "hash": [EMAIL:3f9a1c2b], the same for the same value.
    replacement: str = "redact"


TREATMENTS = {
    "allow": Treatment("allow", ALLOW),
    "flag": Treatment("flag", FLAG),
    "redact": Treatment("redact", REDACT, "redact"),
    "mask": Treatment("mask", REDACT, "mask"),
    "hash": Treatment("hash", REDACT, "hash"),
    "block": Treatment("block", BLOCK),
}


@dataclass(frozen=True)
class Grounding:
    # A sentence is supported when at least this share of its content words occur in one passage.
    min_sentence_support: float = 0.5
    # An answer is refused when fewer than this share of its checked sentences are supported.
    min_answer_support: float = 0.5
    # Fixed text the deployment itself adds to answers (a label), not claims to check.
    ignore_phrases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    version: str
    actions: Mapping[Screen, Mapping[str, Treatment]]
    max_input_chars: int
    # "docs.example.com" allows that host; "*.example.com" allows its subdomains.
    allowed_link_hosts: frozenset[str] = frozenset()
    max_output_chars: int = 8000
    # Minimum scores per screen and check (or prefix); findings below are dropped.
    thresholds: Mapping[Screen, Mapping[str, float]] = field(default_factory=dict)
    grounding: Grounding = Grounding()
    # Strings that only appear in an answer when the model repeats its own prompt.
    leak_markers: tuple[str, ...] = ()

    def treatment(self, screen: Screen, check: str) -> Treatment:
        """The configured treatment; the most specific entry wins, an unknown check is flagged."""
        rules = self.actions.get(screen, {})
        name = check
        while name not in rules:
            if "." not in name:
                return TREATMENTS["flag"]
            name = name.rsplit(".", 1)[0]
        return rules[name]

    def action(self, screen: Screen, check: str) -> int:
        return self.treatment(screen, check).action

    def threshold(self, screen: Screen, check: str, default: float = 0.0) -> float:
        """The screen's minimum score for a check; the most specific entry wins."""
        scores = self.thresholds.get(screen, {})
        name = check
        while name not in scores:
            if "." not in name:
                return default
            name = name.rsplit(".", 1)[0]
        return scores[name]

    def allows_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if host in self.allowed_link_hosts:
            return True
        parts = host.split(".")
        return any("*." + ".".join(parts[index:]) in self.allowed_link_hosts for index in range(1, len(parts)))


_HOST = re.compile(r"(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_CHECK = re.compile(r"[a-z_]+(?:\.[a-z_]+)*")
_SCREEN_KEYS = {
    Screen.INPUT: {"actions", "thresholds", "max_chars"},
    Screen.DOCUMENT: {"actions", "thresholds"},
    Screen.OUTPUT: {"actions", "thresholds", "max_chars", "allowed_link_hosts", "grounding", "leak_markers"},
}
_TOP_KEYS = {"version", "description", *(screen.value for screen in Screen)}


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _require(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{where}: {message}")


def _number(value: Any, where: str, low: float, high: float) -> float:
    _require(isinstance(value, (int, float)) and not isinstance(value, bool), where, f"{value!r} is not a number")
    _require(low <= value <= high, where, f"{value} is outside {low}..{high}")
    return float(value)


def build_policy(settings: Mapping[str, Any], name: str, where: str, detectors: str) -> Policy:
    """A Policy from merged settings; `where` names the files in error messages."""
    _require(isinstance(settings, Mapping), where, "a policy file holds a mapping")
    unknown = set(settings) - _TOP_KEYS
    _require(not unknown, where, f"unknown keys {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    version = settings.get("version")
    _require(isinstance(version, (str, int, float)) and str(version).strip() != "", where, "`version` is required")
    actions: dict[Screen, dict[str, Treatment]] = {}
    thresholds: dict[Screen, dict[str, float]] = {}
    for screen in Screen:
        section = settings.get(screen.value) or {}
        _require(isinstance(section, Mapping), f"{where}: {screen.value}", "must be a mapping")
        unknown = set(section) - _SCREEN_KEYS[screen]
        _require(not unknown, f"{where}: {screen.value}", f"unknown keys {sorted(unknown)}; allowed: {sorted(_SCREEN_KEYS[screen])}")
        actions[screen] = {}
        for check, treatment in (section.get("actions") or {}).items():
            _require(bool(_CHECK.fullmatch(str(check))), f"{where}: {screen.value}.actions", f"{check!r} is not a check name")
            _require(treatment in TREATMENTS, f"{where}: {screen.value}.actions.{check}", f"{treatment!r} is not one of {sorted(TREATMENTS)}")
            actions[screen][check] = TREATMENTS[treatment]
        thresholds[screen] = {}
        for check, value in (section.get("thresholds") or {}).items():
            thresholds[screen][check] = _number(value, f"{where}: {screen.value}.thresholds.{check}", 0.0, 1.0)
    input_section = settings.get("input") or {}
    output_section = settings.get("output") or {}
    hosts = frozenset(str(host).strip().lower().rstrip(".") for host in output_section.get("allowed_link_hosts") or ())
    for host in hosts:
        _require(
            bool(_HOST.fullmatch(host)),
            f"{where}: output.allowed_link_hosts",
            f"{host!r} is not a host name (write docs.example.com or *.example.com, without scheme or path)",
        )
    grounding = output_section.get("grounding") or {}
    unknown = set(grounding) - {"min_sentence_support", "min_answer_support", "ignore_phrases"}
    _require(not unknown, f"{where}: output.grounding", f"unknown keys {sorted(unknown)}")
    markers = tuple(str(marker) for marker in output_section.get("leak_markers") or ())
    _require(all(markers), f"{where}: output.leak_markers", "empty marker")
    effective = {key: settings[key] for key in settings if key != "description"}
    digest = hashlib.sha256(json.dumps([effective, detectors], sort_keys=True, default=str).encode()).hexdigest()[:8]
    return Policy(
        version=f"{name}@{version}+{digest}",
        actions=actions,
        max_input_chars=int(_number(input_section.get("max_chars", 4000), f"{where}: input.max_chars", 1, 10_000_000)),
        allowed_link_hosts=hosts,
        max_output_chars=int(_number(output_section.get("max_chars", 8000), f"{where}: output.max_chars", 1, 10_000_000)),
        thresholds=thresholds,
        grounding=Grounding(
            _number(grounding.get("min_sentence_support", 0.5), f"{where}: output.grounding.min_sentence_support", 0.0, 1.0),
            _number(grounding.get("min_answer_support", 0.5), f"{where}: output.grounding.min_answer_support", 0.0, 1.0),
            tuple(str(phrase) for phrase in grounding.get("ignore_phrases") or ()),
        ),
        leak_markers=markers,
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    return loaded or {}


_TENANT_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class PolicyStore:
    """Per-tenant policies from a folder, re-read when a file changes.

    Each lookup checks the files' modification times at most every
    `check_interval_s`. A file that no longer parses is reported in the log
    and the last good policy stays in force: a typo must not switch the
    guardrail off, nor take it down. At start every file must parse.
    """

    def __init__(self, directory: Path = POLICY_DIR, detectors: str = RULES_VERSION, check_interval_s: float = 1.0):
        self._directory = directory
        self._detectors = detectors
        self._check_interval_s = check_interval_s
        self._lock = threading.Lock()
        # tenant file stem (or "" for the default) -> (signature of the files, policy)
        self._cache: dict[str, tuple[tuple[tuple[int, int] | None, tuple[int, int] | None], Policy]] = {}
        self._checked: dict[str, float] = {}
        self.validate()

    def validate(self) -> list[str]:
        """Parse the default and every tenant file; raises ConfigError naming the first bad one."""
        default = self._directory / DEFAULT_FILE
        if not default.is_file():
            raise ConfigError(f"{default} is missing: the guardrail needs a default policy (RAGLINE_GUARDRAIL_POLICY_DIR)")
        base = _read(default)
        versions = [build_policy(base, "default", str(default), self._detectors).version]
        for path in sorted((self._directory / "tenants").glob("*.yaml")):
            _require(bool(_TENANT_FILE.fullmatch(path.stem)), str(path), "the file name must be the tenant id")
            versions.append(build_policy(_merge(base, _read(path)), path.stem, f"{default} + {path}", self._detectors).version)
        return versions

    def for_tenant(self, tenant: str) -> Policy:
        key = tenant if _TENANT_FILE.fullmatch(tenant) else ""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and now - self._checked.get(key, 0.0) < self._check_interval_s:
                return cached[1]
            self._checked[key] = now
            default = self._directory / DEFAULT_FILE
            tenant_file = self._directory / "tenants" / f"{key}.yaml" if key else None
            signature = (_mtime(default), _mtime(tenant_file) if tenant_file else None)
            if cached is not None and cached[0] == signature:
                return cached[1]
            try:
                policy = self._load(default, tenant_file if signature[1] is not None else None, key)
            except (ConfigError, OSError) as error:
                if cached is None:
                    raise
                log.error("policy file not reloaded, the previous version stays in force", extra={"fields": {"error": str(error)}})
                self._cache[key] = (signature, cached[1])
                return cached[1]
            if cached is not None and cached[1].version != policy.version:
                log.info("policy reloaded", extra={"fields": {"tenant": tenant, "policy_version": policy.version}})
            self._cache[key] = (signature, policy)
            return policy

    def _load(self, default: Path, tenant_file: Path | None, key: str) -> Policy:
        base = _read(default)
        if tenant_file is None:
            return build_policy(base, "default", str(default), self._detectors)
        return build_policy(_merge(base, _read(tenant_file)), key, f"{default} + {tenant_file}", self._detectors)


def _mtime(path: Path | None) -> tuple[int, int] | None:
    """Modification time and size: an edit within the clock's resolution still changes the size, mostly."""
    try:
        stat = path.stat() if path else None
    except FileNotFoundError:
        return None
    return (stat.st_mtime_ns, stat.st_size) if stat else None
