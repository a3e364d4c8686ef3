"""OpenTelemetry and logging set-up, configured by the standard OTEL_* variables.

OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the service;
OTEL_TRACES_EXPORTER and OTEL_METRICS_EXPORTER are `otlp` (default), `console`
or `none`; OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4317) says
where spans and metrics go; OTEL_METRIC_EXPORT_INTERVAL (milliseconds, default
60000) how often metrics are sent.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import threading
import time

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from ragline.config import ConfigError, env_int

# The OTLP exporters log every failed export, with each retry: without a
# collector that is a few lines a minute per signal, forever.
EXPORT_FAILURE_LOG_INTERVAL_S = 300.0
# A stopping service waits at most this long for its last metrics export, so
# that a collector that is not there does not delay the stop by its timeout.
METRICS_SHUTDOWN_TIMEOUT_MS = 3000


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, carrying the active trace and span ids."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ExportFailureThrottle(logging.Filter):
    """Lets through one record per exporter message and signal every
    EXPORT_FAILURE_LOG_INTERVAL_S seconds, and says that repeats are held back."""

    def __init__(self, interval_s: float = EXPORT_FAILURE_LOG_INTERVAL_S):
        super().__init__()
        self._interval_s = interval_s
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        signal = next((str(arg) for arg in args if str(arg) in ("traces", "metrics", "logs")), "")
        key = (str(record.msg), signal)
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, -self._interval_s) < self._interval_s:
                return False
            self._last[key] = now
        record.msg = f"{record.msg} (repeats of this message are held back for {self._interval_s:.0f}s)"
        return True


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("RAGLINE_LOG_LEVEL", "INFO").upper())
    exporter_log = logging.getLogger("opentelemetry.exporter.otlp.proto.grpc.exporter")
    if not any(isinstance(f, ExportFailureThrottle) for f in exporter_log.filters):
        exporter_log.addFilter(ExportFailureThrottle())


class RpcSpanNames(SpanProcessor):
    """Names gRPC spans `package.Service/Method` as the semantic conventions
    say; the gRPC instrumentation uses the path with its leading slash."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if span.name.startswith("/") and (span.attributes or {}).get("rpc.system") == "grpc":
            span.update_name(span.name[1:])


def setup_tracing(service_name: str) -> TracerProvider:
    """Install the global tracer provider for this process and return it."""
    os.environ.setdefault("OTEL_SERVICE_NAME", service_name)
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(RpcSpanNames())
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        exporter_name = "none"
    if exporter_name == "otlp":
        # Imported here: the gRPC exporter is only needed when it is used.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        os.environ.setdefault("OTEL_EXPORTER_OTLP_INSECURE", "true")
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif exporter_name == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter_name != "none":
        raise ConfigError(f"OTEL_TRACES_EXPORTER={exporter_name!r} is not supported (use otlp, console or none)")
    trace.set_tracer_provider(provider)
    return provider


def setup_metrics(service_name: str) -> MeterProvider:
    """Install the global meter provider for this process and return it.

    It is shut down when the process exits, waiting at most
    METRICS_SHUTDOWN_TIMEOUT_MS for the last export.
    """
    os.environ.setdefault("OTEL_SERVICE_NAME", service_name)
    exporter_name = os.environ.get("OTEL_METRICS_EXPORTER", "otlp").strip().lower()
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        exporter_name = "none"
    # Read here rather than by the SDK, so that a bad value stops the service at start.
    interval_ms = env_int("OTEL_METRIC_EXPORT_INTERVAL", 60000, minimum=100)
    exporter: MetricExporter | None = None
    if exporter_name == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        os.environ.setdefault("OTEL_EXPORTER_OTLP_INSECURE", "true")
        exporter = OTLPMetricExporter()
    elif exporter_name == "console":
        exporter = ConsoleMetricExporter()
    elif exporter_name != "none":
        raise ConfigError(f"OTEL_METRICS_EXPORTER={exporter_name!r} is not supported (use otlp, console or none)")
    readers = [PeriodicExportingMetricReader(exporter, export_interval_millis=interval_ms)] if exporter else []
    provider = MeterProvider(metric_readers=readers, resource=Resource.create(), shutdown_on_exit=False)
    atexit.register(provider.shutdown, timeout_millis=METRICS_SHUTDOWN_TIMEOUT_MS)
    metrics.set_meter_provider(provider)
    return provider


def current_trace_id() -> str:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else ""
