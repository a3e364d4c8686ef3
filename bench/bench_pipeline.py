"""The whole pipeline against the bare model, side by side, on this machine.

    .venv/bin/python bench/bench_pipeline.py            # needs a broker and Redis: `make bench` starts them
    .venv/bin/python bench/bench_pipeline.py --smoke    # a short run that only checks that it works

(a) bare: the embedding model in a plain loop over 250-token chunks (chunks/s).
(b) pipeline: the same chunks as documents on `ragline.documents.v1`, through
    ingest, guardrail, embedding and retrieval running as processes on the real
    broker, from the first publish until the last chunk is searchable (chunks/s).
(c) their ratio.
(d) freshness: publish time to searchable, p50/p95, while documents are
    published at a steady rate of half of (b).
CPU seconds per service during (b) and (d) show where the time goes. Results
go to bench/results/pipeline.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
import uuid
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "libs")]

from bench.bench_embedding import make_chunks  # noqa: E402
from bench.cpu_usage import CpuSnapshot, snapshot, usage  # noqa: E402
from bench.index_watch import IndexWatch  # noqa: E402
from bench.local_platform import start_platform  # noqa: E402
from ragline.auditing import event_header  # noqa: E402
from ragline.cli.launcher import SERVICES, ServiceLauncher  # noqa: E402
from ragline.config import data_dir, repo_root  # noqa: E402
from ragline.kafka import DOCUMENTS, EventProducer  # noqa: E402
from ragline.v1 import common_pb2, documents_pb2  # noqa: E402
from services.embedding.encoder import MiniLMEncoder  # noqa: E402

CHUNK_TOKENS = 250  # what the model reads, [CLS] and [SEP] included
# Passed to the services. Ingest's limit excludes [CLS]/[SEP], so each
# paragraph of a benchmark document is exactly one chunk of the bare loop's size.
SERVICE_SETTINGS = {
    "RAGLINE_INGEST_CHUNK_TOKENS": str(CHUNK_TOKENS - 2),
    # A consumer's poll returns when the batch is full or the wait is over, so
    # with few events each stage holds every event for its whole wait. Ingest
    # and retrieval handle events one by one and gain nothing from waiting
    # (defaults 0.5 s each); the embedding service keeps its default 0.2 s,
    # which fills its model batches.
    "RAGLINE_INGEST_BATCH_WAIT_S": "0.05",
    "RAGLINE_RETRIEVAL_BATCH_WAIT_S": "0.05",
    # What a trace collector costs is not the pipeline's; spans are still made.
    "OTEL_TRACES_EXPORTER": "none",
}
PRODUCER = "ragline-bench"
WARMUP_DOCUMENTS = 40
# Texts per encode call: the embedding service's default batch (RAGLINE_EMBEDDING_BATCH_CHUNKS).
CALL_CHUNKS = 64
TARGET_RATIO = 0.85
TARGET_P95_S = 2.0


def measure_bare(chunks: list[str], seconds: float) -> dict:
    """The embedding service's encoder, as the service builds it, in a plain loop."""
    encoder = MiniLMEncoder()
    encoder.encode(chunks[:CALL_CHUNKS])  # warm-up: lazy init, allocator, threads
    before, started, done = snapshot(), time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        start = done % len(chunks)
        batch = chunks[start : start + CALL_CHUNKS]
        encoder.encode(batch)
        done += len(batch)
    elapsed = time.perf_counter() - started
    cpu = usage(before, snapshot(), {}, {"bench": os.getpid()})
    return {"chunks": done, "seconds": elapsed, "batch_size": CALL_CHUNKS, "cpu_s": cpu}


def combine_bare(runs: list[dict]) -> dict:
    """One figure from the loops run before and after the pipeline, so that a
    change in the machine's load during the run weighs on both sides alike."""
    chunks, seconds = sum(r["chunks"] for r in runs), sum(r["seconds"] for r in runs)
    return {
        "chunks": chunks,
        "seconds": round(seconds, 1),
        "chunks_per_s": round(chunks / seconds, 2),
        "runs_chunks_per_s": [round(r["chunks"] / r["seconds"], 2) for r in runs],
        "batch_size": runs[0]["batch_size"],
        "cpu_s": {name: round(sum(r["cpu_s"][name] for r in runs), 1) for name in runs[0]["cpu_s"]},
    }


class DocumentSource:
    """Plain-text documents of `chunks_per_document` paragraphs, each a bare-loop chunk."""

    def __init__(self, paragraphs: list[str], chunks_per_document: int):
        self._paragraphs = paragraphs
        self._per_document = chunks_per_document
        self._next = 0

    def event(self, tenant: str, document_id: str) -> documents_pb2.DocumentEvent:
        paragraphs = [self._paragraphs[(self._next + i) % len(self._paragraphs)] for i in range(self._per_document)]
        self._next += self._per_document
        content = "\n\n".join(paragraphs).encode()
        provenance = common_pb2.Provenance(
            origin_system=PRODUCER,
            source_uri=f"https://bench.example/{document_id}",
            sensitivity=common_pb2.SENSITIVITY_INTERNAL,
            access=common_pb2.AccessList(groups=["bench"]),
            document_version=1,
            content_hash=hashlib.sha256(content).hexdigest(),
            title=document_id,
        )
        return documents_pb2.DocumentEvent(
            header=event_header(tenant, PRODUCER),  # produced_at: now, the start of the freshness delay
            document_id=document_id,
            upsert=documents_pb2.DocumentUpsert(provenance=provenance, mime_type="text/plain", content=content),
        )


class Phase:
    """CPU accounting for one phase of the run: every service, the broker, this process."""

    def __init__(self, launcher: ServiceLauncher, broker_pid: int | None):
        self._sessions = {name: launcher.pid(name) for name in SERVICES}
        self._processes = {"bench": os.getpid(), **({"kafka": broker_pid} if broker_pid else {})}
        self._before: CpuSnapshot = snapshot()
        self._started = time.monotonic()

    def end(self) -> dict:
        cpu = usage(self._before, snapshot(), self._sessions, self._processes)
        return {"wall_s": round(time.monotonic() - self._started, 1), "cpu_s": {name: round(value, 1) for name, value in cpu.items()}}


def _pid_file(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def publish_burst(producer: EventProducer, source: DocumentSource, watch: IndexWatch, tenant: str, documents: int, expected_chunks: int) -> dict:
    """Publish every document at once, then wait until the last chunk is searchable."""
    ids = {f"doc-{i:05d}" for i in range(documents)}
    started = time.time()
    for document_id in sorted(ids):
        producer.publish(DOCUMENTS, f"{tenant}/{document_id}", source.event(tenant, document_id))
    producer.flush()
    indexed = watch.wait(tenant, ids, timeout=max(600.0, 20.0 * documents))
    if len(indexed) < documents:
        raise RuntimeError(f"only {len(indexed)} of {documents} documents became searchable")
    chunks = sum(progress.chunks for progress in indexed.values())
    if chunks != expected_chunks * documents:
        raise RuntimeError(f"{chunks} chunks indexed, expected {expected_chunks} per document: ingest cut them differently")
    elapsed = max(progress.indexed for progress in indexed.values()) - started
    return {"documents": documents, "chunks": chunks, "seconds": round(elapsed, 2), "chunks_per_s": round(chunks / elapsed, 2)}


def publish_steadily(producer: EventProducer, source: DocumentSource, watch: IndexWatch, tenant: str, rate: float, seconds: float) -> dict:
    """Publish one document every 1/rate seconds; the delay of each from publish to searchable."""
    documents = max(10, round(rate * seconds))
    published: dict[str, float] = {}
    started = time.monotonic()
    for i in range(documents):
        time.sleep(max(0.0, started + i / rate - time.monotonic()))
        document_id = f"doc-{i:05d}"
        event = source.event(tenant, document_id)
        producer.publish(DOCUMENTS, f"{tenant}/{document_id}", event)
        published[document_id] = event.header.produced_at.ToNanoseconds() / 1e9
    producer.flush()
    indexed = watch.wait(tenant, set(published), timeout=120.0)
    if len(indexed) < documents:
        raise RuntimeError(f"only {len(indexed)} of {documents} documents became searchable")
    delays = np.array([indexed[d].indexed - published[d] for d in published])
    p50, p95 = np.percentile(delays, [50, 95])
    # Where the delay goes: from publish until ingest published the chunks, until
    # embedding published the vectors, until retrieval made them searchable.
    marks = {d: [published[d], indexed[d].left.get("ingest"), indexed[d].left.get("embedding"), indexed[d].indexed] for d in published}
    stages = {}
    for position, stage in enumerate(("ingest", "embedding", "retrieval")):
        spans = [m[position + 1] - m[position] for m in marks.values() if m[position] is not None and m[position + 1] is not None]
        if spans:
            stages[stage] = {"p50_s": round(float(np.percentile(spans, 50)), 3), "p95_s": round(float(np.percentile(spans, 95)), 3)}
    return {
        "documents": documents,
        "documents_per_s": round(rate, 3),
        "p50_s": round(float(p50), 3),
        "p95_s": round(float(p95), 3),
        "max_s": round(float(delays.max()), 3),
        "stages": stages,
    }


def run_pipeline(paragraphs: list[str], chunks_per_document: int, bare_rate: float, burst_s: float, freshness_s: float) -> dict:
    run = uuid.uuid4().hex[:8]
    broker_pid = _pid_file(data_dir() / "kafka" / "kafka.pid")  # infra/kafka.sh keeps it there
    data = data_dir() / "runs" / time.strftime("%Y%m%d-%H%M%S")
    print(f"starting the six services (data and logs: {data})", flush=True)
    launcher = start_platform(data, SERVICE_SETTINGS)
    watch = IndexWatch(f"bench-{run}")
    producer = EventProducer(PRODUCER)
    source = DocumentSource(paragraphs, chunks_per_document)
    try:
        # Warm-up: the broker's JIT, milvus-lite's first segments and every
        # service's first calls are start-up costs, not the pipeline's throughput.
        publish_burst(producer, source, watch, f"bench-{run}-warmup", WARMUP_DOCUMENTS, chunks_per_document)
        documents = max(8, round(bare_rate * burst_s / chunks_per_document))
        print(f"(b) {documents} documents of {chunks_per_document} chunks at once ...", flush=True)
        phase = Phase(launcher, broker_pid)
        throughput = publish_burst(producer, source, watch, f"bench-{run}-burst", documents, chunks_per_document)
        throughput.update(phase.end())
        rate = throughput["chunks_per_s"] / 2 / chunks_per_document
        print(f"(d) one document every {1 / rate:.2f} s for {freshness_s:.0f} s ...", flush=True)
        phase = Phase(launcher, broker_pid)
        freshness = publish_steadily(producer, source, watch, f"bench-{run}-fresh", rate, freshness_s)
        freshness["chunks_per_s"] = round(rate * chunks_per_document, 2)
        freshness.update(phase.end())
    finally:
        watch.close()
        launcher.stop_all()
    return {"throughput": throughput, "freshness": freshness, "logs": str(data / "run")}


def model_share(cpu_s: dict[str, float]) -> float:
    """The embedding service's part of the CPU the platform used (everything but `other`)."""
    own = sum(seconds for name, seconds in cpu_s.items() if name != "other")
    return round(cpu_s["embedding"] / own, 3) if own else 0.0


def print_report(result: dict) -> None:
    bare, pipeline, fresh = result["bare"], result["pipeline"]["throughput"], result["pipeline"]["freshness"]
    ratio = result["ratio"]
    ok = lambda passed: "ok" if passed else "MISSED"  # noqa: E731
    print()
    print(f"Ragline pipeline benchmark  {result['machine']['cpus']} CPUs, load average {result['machine']['load_before']} before the run")
    print(f"chunks of {CHUNK_TOKENS} tokens, {result['chunks_per_document']} per document; model batch {bare['batch_size']}")
    print(f"{'':<48}{'value':>22}  target")
    runs = " and ".join(f"{rate:.2f}" for rate in bare["runs_chunks_per_s"])
    print(f"{'(a) bare embedding, plain loop':<48}{bare['chunks_per_s']:>13.2f} chunks/s  ({bare['chunks']} chunks, {bare['seconds']:.0f} s; {runs} before and after)")
    print(f"{'(b) pipeline, publish to searchable':<48}{pipeline['chunks_per_s']:>13.2f} chunks/s  ({pipeline['chunks']} chunks, {pipeline['seconds']:.0f} s)")
    print(f"{'(c) ratio (b)/(a)':<48}{ratio:>22.2f}  >= {TARGET_RATIO}  {ok(ratio >= TARGET_RATIO)}")
    label = f"(d) freshness at {fresh['chunks_per_s']:.2f} chunks/s, p50 / p95"
    print(f"{label:<48}{fresh['p50_s']:>10.2f} s / {fresh['p95_s']:.2f} s  p95 < {TARGET_P95_S:.0f} s  {ok(fresh['p95_s'] < TARGET_P95_S)}"
          f"  (max {fresh['max_s']:.2f} s, {fresh['documents']} documents)")
    print("    per stage, p50 / p95: " + ", ".join(f"{name} {v['p50_s']:.2f} / {v['p95_s']:.2f} s" for name, v in fresh["stages"].items()))
    for title, phase in (("(b)", pipeline), ("(d)", fresh)):
        wall = phase["wall_s"]
        print(f"\nCPU seconds during {title} (wall {wall:.0f} s, {result['machine']['cpus']} cores: {wall * result['machine']['cpus']:.0f} core-seconds)")
        for name, seconds in sorted(phase["cpu_s"].items(), key=lambda item: -item[1]):
            note = "  (every other process on the machine)" if name == "other" else ""
            print(f"  {name:<11}{seconds:>7.1f}  {100 * seconds / wall:>4.0f}% of a core{note}")
    print(f"\nembedding CPU per chunk: {result['embedding_cpu_ms_per_chunk']['pipeline']:.0f} ms in the pipeline, "
          f"{result['embedding_cpu_ms_per_chunk']['bare']:.0f} ms in the bare loop")
    print(f"the model's share of the pipeline's own CPU during (b): {100 * result['model_cpu_share']:.0f}% "
          "(what the ratio would approach on a machine with nothing else to do)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks-per-document", type=int, default=4)
    parser.add_argument("--bare-seconds", type=float, default=40.0, help="how long the plain loop runs, half before and half after the pipeline")
    parser.add_argument("--burst-seconds", type=float, default=90.0, help="about how long the pipeline burst takes at the bare rate")
    parser.add_argument("--freshness-seconds", type=float, default=60.0, help="how long documents are published at half capacity")
    parser.add_argument("--smoke", action="store_true", help="a short run that checks the benchmark works; its figures mean little")
    parser.add_argument("--output", type=Path, default=repo_root() / "bench" / "results" / "pipeline.json")
    args = parser.parse_args()
    if args.smoke:
        args.bare_seconds, args.burst_seconds, args.freshness_seconds = 5.0, 10.0, 10.0

    load_before = round(os.getloadavg()[0], 2)
    paragraphs = make_chunks(256, CHUNK_TOKENS)
    print(f"(a) the model in a plain loop for {args.bare_seconds / 2:.0f} s, before and after the pipeline ...", flush=True)
    first = measure_bare(paragraphs, args.bare_seconds / 2)
    pipeline = run_pipeline(paragraphs, args.chunks_per_document, first["chunks"] / first["seconds"], args.burst_seconds, args.freshness_seconds)
    print("(a) again ...", flush=True)
    bare = combine_bare([first, measure_bare(paragraphs, args.bare_seconds / 2)])
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_before": load_before},
        "chunk_tokens": CHUNK_TOKENS,
        "chunks_per_document": args.chunks_per_document,
        "service_settings": SERVICE_SETTINGS,
        "smoke": args.smoke,
        "bare": bare,
        "pipeline": pipeline,
        "ratio": round(pipeline["throughput"]["chunks_per_s"] / bare["chunks_per_s"], 3),
        "embedding_cpu_ms_per_chunk": {
            "pipeline": round(1000 * pipeline["throughput"]["cpu_s"]["embedding"] / pipeline["throughput"]["chunks"], 1),
            "bare": round(1000 * bare["cpu_s"]["bench"] / bare["chunks"], 1),
        },
        "model_cpu_share": model_share(pipeline["throughput"]["cpu_s"]),
        "targets": {"ratio": TARGET_RATIO, "freshness_p95_s": TARGET_P95_S},
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print_report(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
