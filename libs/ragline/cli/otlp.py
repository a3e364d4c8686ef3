"""A small OTLP/gRPC receiver that appends spans and metric points to JSON Lines files.

`make run` uses it when no collector is configured, so traces and metrics can
be read without Jaeger or Prometheus; the end-to-end tests use it as the real
OTLP peer that the services export to. Metric points go to `metrics.jsonl`
beside the spans file. The SDK exports cumulative values, so the latest point
of a series holds everything recorded since the process started.
"""

from __future__ import annotations

import json
import threading
from concurrent import futures
from pathlib import Path
from typing import Iterator

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

SPAN_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def _value(value: common_pb2.AnyValue) -> object:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


def span_records(request: trace_service_pb2.ExportTraceServiceRequest) -> Iterator[dict]:
    for resource_spans in request.resource_spans:
        resource = {item.key: _value(item.value) for item in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield {
                    "service": resource.get("service.name", ""),
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "name": span.name,
                    "kind": SPAN_KINDS.get(span.kind, str(span.kind)),
                    "start_ns": span.start_time_unix_nano,
                    "end_ns": span.end_time_unix_nano,
                    "status": span.status.code,
                    "attributes": {item.key: _value(item.value) for item in span.attributes},
                    "links": [{"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()} for link in span.links],
                }


def _attributes(items) -> dict[str, object]:
    return {item.key: _value(item.value) for item in items}


def metric_records(request: metrics_service_pb2.ExportMetricsServiceRequest) -> Iterator[dict]:
    """One record per data point of histograms, sums and gauges."""
    for resource_metrics in request.resource_metrics:
        service = _attributes(resource_metrics.resource.attributes).get("service.name", "")
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind not in ("histogram", "sum", "gauge"):
                    continue
                for point in getattr(metric, kind).data_points:
                    record = {
                        "service": service,
                        "name": metric.name,
                        "unit": metric.unit,
                        "type": kind,
                        "start_ns": point.start_time_unix_nano,
                        "time_ns": point.time_unix_nano,
                        "attributes": _attributes(point.attributes),
                    }
                    if isinstance(point, metrics_pb2.HistogramDataPoint):
                        record.update(
                            count=point.count,
                            sum=point.sum,
                            min=point.min,
                            max=point.max,
                            bounds=list(point.explicit_bounds),
                            bucket_counts=list(point.bucket_counts),
                        )
                    else:
                        record["value"] = getattr(point, point.WhichOneof("value") or "as_double")
                    yield record


class _JsonLinesFile:
    def __init__(self, path: Path):
        self._path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, records: Iterator[dict]) -> None:
        lines = [json.dumps(record) + "\n" for record in records]
        with self._lock, open(self._path, "a", encoding="utf-8") as out:
            out.writelines(lines)


class SpanFileReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, path: Path):
        self._file = _JsonLinesFile(path)

    def Export(self, request, context):
        self._file.append(span_records(request))
        return trace_service_pb2.ExportTraceServiceResponse()


class MetricFileReceiver(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, path: Path):
        self._file = _JsonLinesFile(path)

    def Export(self, request, context):
        self._file.append(metric_records(request))
        return metrics_service_pb2.ExportMetricsServiceResponse()


def metrics_file_beside(spans_file: Path) -> Path:
    return spans_file.with_name("metrics.jsonl")


def start_receiver(path: Path, port: int) -> grpc.Server:
    """Receive spans into `path` and metric points into metrics.jsonl beside it."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(SpanFileReceiver(path), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricFileReceiver(metrics_file_beside(path)), server)
    if server.add_insecure_port(f"127.0.0.1:{port}") == 0:
        raise SystemExit(f"cannot listen on 127.0.0.1:{port} for OTLP")
    server.start()
    return server


def read_spans(path: Path, trace_id: str | None = None) -> list[dict]:
    if not path.exists():
        return []
    spans = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [span for span in spans if trace_id is None or span["trace_id"] == trace_id]


def read_metric_points(path: Path, name: str | None = None) -> list[dict]:
    """Metric points from a metrics file, oldest first; only those of `name` when given."""
    if not path.exists():
        return []
    points = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [point for point in points if name is None or point["name"] == name]


def render_tree(spans: list[dict]) -> str:
    """The spans of one trace as an indented tree, parents before children."""
    by_parent: dict[str, list[dict]] = {}
    ids = {span["span_id"] for span in spans}
    for span in sorted(spans, key=lambda s: s["start_ns"]):
        parent = span["parent_span_id"] if span["parent_span_id"] in ids else ""
        by_parent.setdefault(parent, []).append(span)
    lines: list[str] = []

    def walk(parent: str, depth: int) -> None:
        for span in by_parent.get(parent, []):
            millis = (span["end_ns"] - span["start_ns"]) / 1e6
            lines.append(f"{'  ' * depth}{span['service']}: {span['name']} ({span['kind']}, {millis:.1f} ms)")
            walk(span["span_id"], depth + 1)

    walk("", 0)
    return "\n".join(lines)
