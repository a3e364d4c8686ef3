"""Usage anomalies: a principal whose activity jumps far above its own recent baseline.

Time is cut into windows (a minute by default) of event time. For each
principal (tenant + subject) two metrics are counted per window over the
watched actions (answer, search):

- `requests`: distinct requests, i.e. distinct trace ids, so that an answer
  and the search it made count once;
- `distinct_documents`: distinct document ids retrieved.

The baseline of each metric is an exponentially weighted mean over the
principal's *active* windows (idle minutes are skipped: the baseline is how
much the principal does when it works, so a night off does not make the next
morning look like a burst). A window's count is compared with the threshold
`max(floor, ratio * baseline)` as events arrive, and crossing it raises one
alert per principal, metric and window. Before a principal has completed
`warmup_windows` active windows it has no baseline of its own and raises
nothing. A window that crossed the threshold teaches the baseline only up to
the threshold, so a sustained burst keeps alerting instead of becoming the
new normal within minutes.

State is a few numbers per principal, in memory; it is rebuilt from the log's
recent records when the service starts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable

from google.protobuf.timestamp_pb2 import Timestamp

from ragline.auditing import event_header
from ragline.config import env_float, env_int, env_str
from ragline.kafka import now_timestamp
from ragline.v1 import audit_pb2

ALERT_ACTION = "alert.usage_anomaly"
REQUESTS = "requests"
DISTINCT_DOCUMENTS = "distinct_documents"


@dataclass(frozen=True)
class AnomalySettings:
    window_s: int = 60
    # Alert when a window's count reaches ratio x baseline ...
    ratio: float = 5.0
    # ... and at least this many (per window), so that small numbers never alert.
    min_requests: int = 30
    min_documents: int = 50
    # Active windows after which an old window weighs half as much in the baseline.
    half_life_windows: float = 30.0
    warmup_windows: int = 5
    actions: frozenset[str] = frozenset({"answer", "search"})
    # How far back the baseline is rebuilt from the log at start.
    history_s: int = 86_400

    @classmethod
    def from_env(cls) -> "AnomalySettings":
        prefix = "RAGLINE_AUDIT_ANOMALY_"
        actions = frozenset(a.strip() for a in env_str(f"{prefix}ACTIONS", "answer,search").split(",") if a.strip())
        return cls(
            window_s=env_int(f"{prefix}WINDOW_S", 60, minimum=1, maximum=86_400),
            ratio=env_float(f"{prefix}RATIO", 5.0, minimum=1.0),
            min_requests=env_int(f"{prefix}MIN_REQUESTS", 30, minimum=1),
            min_documents=env_int(f"{prefix}MIN_DOCUMENTS", 50, minimum=1),
            half_life_windows=env_float(f"{prefix}HALF_LIFE_WINDOWS", 30.0, minimum=1.0),
            warmup_windows=env_int(f"{prefix}WARMUP_WINDOWS", 5, minimum=1),
            actions=actions,
            history_s=env_int(f"{prefix}HISTORY_S", 86_400, minimum=0),
        )

    @property
    def alpha(self) -> float:
        return 1.0 - 0.5 ** (1.0 / self.half_life_windows)

    def floor(self, metric: str) -> int:
        return self.min_requests if metric == REQUESTS else self.min_documents


@dataclass(frozen=True)
class UsageAlert:
    tenant: str
    principal: str
    metric: str
    observed: int
    baseline: float
    threshold: float
    window_start_ns: int
    window_s: int
    # The request that crossed the threshold.
    trace_id: str

    def to_event(self) -> audit_pb2.AuditEvent:
        window_start = Timestamp()
        window_start.FromNanoseconds(self.window_start_ns)
        header = event_header(self.tenant, "audit")
        # One id per principal, metric and window: an alert raised again after a restart is stored once.
        identity = f"{self.tenant}\n{self.principal}\n{self.metric}\n{self.window_start_ns}"
        header.event_id = hashlib.sha256(identity.encode()).hexdigest()[:32]
        return audit_pb2.AuditEvent(
            header=header,
            action=ALERT_ACTION,
            principal=self.principal,
            outcome="alert",
            details={
                "metric": self.metric,
                "observed": str(self.observed),
                "baseline": f"{self.baseline:.1f}",
                "threshold": f"{self.threshold:.1f}",
                "window_s": str(self.window_s),
                "window_start": window_start.ToJsonString(),
            },
            trace_id=self.trace_id,
            occurred_at=now_timestamp(),
        )


@dataclass
class _Baseline:
    mean: float = 0.0

    def learn(self, value: float, alpha: float, first: bool) -> None:
        self.mean = value if first else self.mean + alpha * (value - self.mean)


@dataclass
class _PrincipalUsage:
    window: int
    active_windows: int = 0
    requests: set[str] = field(default_factory=set)
    documents: set[str] = field(default_factory=set)
    alerted: set[str] = field(default_factory=set)
    baselines: dict[str, _Baseline] = field(
        default_factory=lambda: {REQUESTS: _Baseline(), DISTINCT_DOCUMENTS: _Baseline()}
    )

    def count(self, metric: str) -> int:
        return len(self.requests) if metric == REQUESTS else len(self.documents)


class UsageAnomalyDetector:
    def __init__(self, settings: AnomalySettings):
        self._settings = settings
        self._window_ns = settings.window_s * 1_000_000_000
        self._usage: dict[tuple[str, str], _PrincipalUsage] = {}

    def observe(self, event: audit_pb2.AuditEvent, occurred_at_ns: int) -> list[UsageAlert]:
        """Count a stored event; the alerts it raises (none for actions that are not watched)."""
        if event.action not in self._settings.actions or not event.principal:
            return []
        key = (event.header.tenant, event.principal)
        window = occurred_at_ns // self._window_ns
        usage = self._usage.get(key)
        if usage is None:
            usage = self._usage[key] = _PrincipalUsage(window)
        elif window > usage.window:
            self._close(usage)
            usage.window = window
        # A late event (from an earlier window) counts in the current one.
        usage.requests.add(event.trace_id or event.header.event_id)
        usage.documents.update(event.document_ids)
        if usage.active_windows < self._settings.warmup_windows:
            return []
        alerts = []
        for metric, baseline in usage.baselines.items():
            threshold = self._threshold(metric, baseline)
            observed = usage.count(metric)
            if metric not in usage.alerted and observed >= threshold:
                usage.alerted.add(metric)
                alerts.append(
                    UsageAlert(
                        key[0],
                        key[1],
                        metric,
                        observed,
                        baseline.mean,
                        threshold,
                        usage.window * self._window_ns,
                        self._settings.window_s,
                        event.trace_id,
                    )
                )
        return alerts

    def rebuild(self, events: Iterable[tuple[audit_pb2.AuditEvent, int]]) -> int:
        """Learn from (event, occurred_at_ns) pairs already in the log, raising nothing; the number observed."""
        observed = 0
        for event, occurred_at_ns in events:
            self.observe(event, occurred_at_ns)
            observed += 1
        return observed

    def _threshold(self, metric: str, baseline: _Baseline) -> float:
        return max(float(self._settings.floor(metric)), self._settings.ratio * baseline.mean)

    def _close(self, usage: _PrincipalUsage) -> None:
        warming_up = usage.active_windows < self._settings.warmup_windows
        for metric, baseline in usage.baselines.items():
            observed = float(usage.count(metric))
            if not warming_up:
                observed = min(observed, self._threshold(metric, baseline))
            baseline.learn(observed, self._settings.alpha, first=usage.active_windows == 0)
        usage.active_windows += 1
        usage.requests.clear()
        usage.documents.clear()
        usage.alerted.clear()
