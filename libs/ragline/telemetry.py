"""OpenTelemetry and logging set-up, configured by the standard OTEL_* variables.

OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the service;
OTEL_TRACES_EXPORTER is `otlp` (default), `console` or `none`;
OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4317) says where spans go.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from ragline.config import ConfigError


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


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("RAGLINE_LOG_LEVEL", "INFO").upper())


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


def current_trace_id() -> str:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else ""
