"""Answer latency over gRPC, beside the same steps in one Python process.

    .venv/bin/python bench/bench_answer.py            # needs a broker and Redis: `make bench` starts them
    .venv/bin/python bench/bench_answer.py --smoke    # a short run that only checks that it works

(a) gRPC: `Answer` with the extractive answerer against the six services as
    processes, at 1, 8 and 32 concurrent clients. Each client is a thread with
    its own channel. The clients ask the answerable questions of the Northwind
    eval set in turn, each as its asker. The answer cache is off
    (RAGLINE_GENERATION_CACHE_TTL_S=0), so every request screens, embeds,
    searches, answers, screens and audits. The same levels are then measured
    with the cache on, after one pass that fills it, to show what a hit costs.
(b) in process: with the services stopped, the same AnswerOrchestrator flow
    through library calls, half of its requests before the gRPC runs and half
    after them, so that a change in the machine's speed during the run weighs
    on both sides alike. It uses the guardrail's Screener and tenant policies,
    the MiniLM encoder, the retrieval service's index on the same milvus-lite
    file with its access filter, and the extractive answerer. Searches and
    answers are audited to the same broker, and a search waits for its record
    as the retrieval service does. One client, cache off.
(c) ratio: gRPC p50 at 1 client ÷ in-process p50 (target: at most 1.5).
Request rate limits are raised for the run, so they never reject a request,
but they are still checked in Redis. The services inherit this process's
environment, so both paths run with the same BLAS threads (recorded under
"blas"). Results go to bench/results/answer.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "libs")]

from bench.local_platform import start_platform  # noqa: E402
from ragline.auditing import AuditTrail  # noqa: E402
from ragline.auth import Principal, current_principal  # noqa: E402
from ragline.cli import corpus  # noqa: E402
from ragline.cli.demo import wait_searchable  # noqa: E402
from ragline.cli.eval import DEFAULT_SET, EvalSet, Readers  # noqa: E402
from ragline.cli.launcher import ServiceLauncher  # noqa: E402
from ragline.cli.main import publish_documents  # noqa: E402
from ragline.config import data_dir, target  # noqa: E402
from ragline.kafka import EventProducer  # noqa: E402
from ragline.rpc import channel  # noqa: E402
from ragline.v1 import embedding_pb2, generation_pb2, generation_pb2_grpc, guardrail_pb2, retrieval_pb2  # noqa: E402

CONCURRENCY = (1, 8, 32)
TARGET_RATIO = 1.5
TOP_K = 5
PROMPT = "answer@v3"
SERVICE_SETTINGS = {
    "RAGLINE_GENERATION_CACHE_TTL_S": "0",
    "RAGLINE_GENERATION_PROMPT": PROMPT,
    "RAGLINE_RATELIMIT_PRINCIPAL_PER_MINUTE": "10000000",
    "RAGLINE_RATELIMIT_TENANT_PER_MINUTE": "10000000",
    # What a trace collector costs is not the answer's; spans are still made.
    "OTEL_TRACES_EXPORTER": "none",
}


class Questions:
    """The answerable questions of the eval set, handed out in turn to every client."""

    def __init__(self, eval_set: EvalSet, readers: Readers):
        self._asked = [(q.question, q.asked_as) for q in eval_set.questions if q.answerable]
        self._tokens = {name: readers.token(name) for name in eval_set.askers}
        self._principals = {name: readers.principal(name) for name in eval_set.askers}
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._asked)

    def next(self) -> tuple[str, str, Principal]:
        with self._lock:
            question, asker = self._asked[next(self._turn) % len(self._asked)]
        return question, self._tokens[asker], self._principals[asker]


def measure_grpc(questions: Questions, clients: int, requests: int) -> dict:
    latencies: list[float] = []
    refused = 0
    lock = threading.Lock()
    per_client = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]

    def client(count: int) -> None:
        nonlocal refused
        with channel(target("generation")) as connection:
            stub = generation_pb2_grpc.GenerationServiceStub(connection)
            for _ in range(count):
                question, token, _ = questions.next()
                started = time.perf_counter()
                answer = stub.Answer(
                    generation_pb2.AnswerRequest(question=question, top_k=TOP_K),
                    metadata=[("authorization", f"Bearer {token}")], timeout=60,
                )
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    refused += answer.refused

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client, count) for count in per_client]:
            future.result()
    return _summary(latencies, time.perf_counter() - started, clients, refused)


class LibraryGuardrail:
    """The guardrail service's screens and tenant policies as library calls."""

    def __init__(self) -> None:
        from services.guardrail.policy import POLICY_DIR, RULES_VERSION, PolicyStore
        from services.guardrail.screens import Screener

        self._screener = Screener()
        self._policies = PolicyStore(POLICY_DIR, detectors=f"{RULES_VERSION}+{self._screener.classifier_version}")

    def screen_input(self, tenant: str, text: str) -> guardrail_pb2.ScreenInputResponse:
        policy = self._policies.for_tenant(tenant)
        result = self._screener.screen_input(text, policy)
        return guardrail_pb2.ScreenInputResponse(allowed=result.allowed, text=result.text, verdicts=_verdicts(result, policy))

    def screen_output(self, tenant: str, text: str, context: Sequence[str]) -> guardrail_pb2.ScreenOutputResponse:
        policy = self._policies.for_tenant(tenant)
        result = self._screener.screen_output(text, list(context), policy)
        return guardrail_pb2.ScreenOutputResponse(allowed=result.allowed, text=result.text, verdicts=_verdicts(result, policy))


def _verdicts(result, policy) -> list[guardrail_pb2.Verdict]:
    return [
        guardrail_pb2.Verdict(check=v.check, action=v.action, score=v.score, reason=v.reason, policy_version=policy.version)
        for v in result.verdicts
    ]


class LibraryEmbedder:
    def __init__(self) -> None:
        from ragline import minilm
        from services.embedding.encoder import MiniLMEncoder

        self._encoder = MiniLMEncoder()
        self._model = minilm.MODEL_NAME

    def embed(self, text: str) -> embedding_pb2.EmbedResponse:
        vector = self._encoder.encode([text])[0]
        return embedding_pb2.EmbedResponse(vectors=[embedding_pb2.Vector(values=vector.tolist())], model=self._model)


class LibrarySearch:
    """The retrieval service's index, access filter and audited search, on its milvus-lite file."""

    def __init__(self, producer: EventProducer) -> None:
        from services.retrieval.index import ChunkIndex, IndexSettings

        settings = IndexSettings.from_env()
        self._uri = settings.uri
        self._index = ChunkIndex(settings)
        self._producer = producer
        self._audit = AuditTrail(producer, "retrieval")

    def search(self, query_vector: Sequence[float], top_k: int) -> retrieval_pb2.SearchResponse:
        from services.retrieval.access import AccessFilter
        from services.retrieval.rows import search_hit

        principal = current_principal.get()
        live = self._index.live
        hits = [search_hit(row, score) for row, score in live.search(query_vector, AccessFilter.of(principal).expression(), top_k)]
        self._audit.record(
            "search", principal.tenant, principal.subject, "ok",
            document_ids=list(dict.fromkeys(hit.document_id for hit in hits)), chunk_ids=[hit.chunk_id for hit in hits],
            details={"top_k": str(top_k), "hits": str(len(hits)), "query_by": "vector"},
        )
        self._producer.flush(5.0)  # as the service: results only once the search is on the record
        return retrieval_pb2.SearchResponse(hits=hits, embedding_model=live.model)

    def close(self) -> None:
        from milvus_lite.server_manager import server_manager_instance

        self._index.close()
        # milvus-lite keeps serving (and locking) the file in this process until released:
        # the retrieval service opens it next.
        server_manager_instance.release_server(self._uri)


@dataclass
class InProcessRun:
    latencies: list[float]
    seconds: float
    refused: int


def measure_in_process(questions: Questions, requests: int, warmup: int) -> InProcessRun:
    from services.generation.answer_policy import AnswerPolicies
    from services.generation.extractive import ExtractiveAnswerer
    from services.generation.orchestrator import AnswerOrchestrator
    from services.generation.prompt_registry import FixedPrompt
    from services.generation.prompts import load_prompt

    producer = EventProducer("ragline-bench")
    search = LibrarySearch(producer)
    orchestrator = AnswerOrchestrator(
        guardrail=LibraryGuardrail(),
        embedder=LibraryEmbedder(),
        search=search,
        answerer=ExtractiveAnswerer(),
        audit=AuditTrail(producer, "generation"),
        prompts=FixedPrompt(load_prompt(PROMPT)),
        policies=AnswerPolicies.from_env(),
    )
    latencies: list[float] = []
    refused = 0
    try:
        started = time.perf_counter()
        for number in range(warmup + requests):
            question, _, principal = questions.next()
            relayed = current_principal.set(principal)
            try:
                asked = time.perf_counter()
                answer = orchestrator.answer(principal, question, TOP_K)
                elapsed = time.perf_counter() - asked
            finally:
                current_principal.reset(relayed)
            if number == warmup - 1:
                started = time.perf_counter()
            if number >= warmup:
                latencies.append(elapsed)
                refused += answer.refused
        return InProcessRun(latencies, time.perf_counter() - started, refused)
    finally:
        producer.flush(10.0)
        search.close()


def _summary(latencies: list[float], seconds: float, clients: int, refused: int) -> dict:
    ms = np.array(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(latencies),
        "refused": refused,
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "requests_per_s": round(len(latencies) / seconds, 1),
    }


def restart_generation(launcher: ServiceLauncher, settings: dict[str, str]) -> None:
    launcher.stop("generation")
    launcher.env.update(settings)
    launcher.start("generation")
    launcher.wait_ready("generation")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="few requests: only checks that the benchmark works")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "answer.json"))
    args = parser.parse_args()
    requests = {1: 8, 8: 16, 32: 32} if args.smoke else {1: 100, 8: 200, 32: 320}
    warmup = 3 if args.smoke else 10

    data = data_dir() / "bench" / f"answer-{uuid.uuid4().hex[:8]}"
    print(f"starting the six services (data in {data}) ...", flush=True)
    launcher = start_platform(data, SERVICE_SETTINGS)
    eval_set = EvalSet.load(DEFAULT_SET)
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    _, specs = corpus.specs_from_manifest(eval_set.manifest)
    results: dict = {"grpc_cache_off": [], "grpc_cache_hits": []}
    try:
        readers = Readers(tenant, eval_set.askers)
        publish_documents(tenant, specs)
        missing = wait_searchable(tenant, specs, readers.every_reader(g for s in specs for g in s.groups), 180)
        if missing:
            raise SystemExit(f"not searchable after 180 s: {missing}")
        questions = Questions(eval_set, readers)
        # The in-process baseline opens the services' milvus-lite file, which only one process may hold.
        launcher.stop_all()
        in_process = [measure_in_process(questions, requests[1] // 2, warmup)]
        launcher.start_all(timeout=180)
        measure_grpc(questions, 1, warmup)
        for clients in CONCURRENCY:
            results["grpc_cache_off"].append(measure_grpc(questions, clients, requests[clients]))
            print(f"gRPC, cache off, {clients:>2} clients: {results['grpc_cache_off'][-1]}", flush=True)
        restart_generation(launcher, {"RAGLINE_GENERATION_CACHE_TTL_S": "3600"})
        measure_grpc(questions, 1, len(questions))  # one pass fills the cache
        for clients in CONCURRENCY:
            results["grpc_cache_hits"].append(measure_grpc(questions, clients, requests[clients]))
            print(f"gRPC, cache hits, {clients:>2} clients: {results['grpc_cache_hits'][-1]}", flush=True)
    finally:
        launcher.stop_all()
    in_process.append(measure_in_process(questions, requests[1] - requests[1] // 2, warmup))
    results["in_process"] = _summary(
        [latency for run in in_process for latency in run.latencies],
        sum(run.seconds for run in in_process),
        1,
        sum(run.refused for run in in_process),
    )
    results["in_process"]["runs_p50_ms"] = [round(float(np.percentile(run.latencies, 50)) * 1000, 1) for run in in_process]
    print(f"in process, cache off, 1 client (before and after): {results['in_process']}", flush=True)

    ratio = results["grpc_cache_off"][0]["p50_ms"] / results["in_process"]["p50_ms"]
    report = {
        "benchmark": "answer latency, extractive answerer",
        "smoke": args.smoke,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        # Both paths run with the same BLAS settings: the services inherit this process's environment.
        "blas": {key: value for key, value in os.environ.items() if key.startswith(("OPENBLAS_", "OMP_"))},
        "questions": len(questions),
        "top_k": TOP_K,
        "prompt": PROMPT,
        **results,
        "ratio_p50_grpc_1_client_to_in_process": round(ratio, 2),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
    }
    print(_table(report))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"results: {out}")
    return 0


def _table(report: dict) -> str:
    rows = [("gRPC, cache off", row) for row in report["grpc_cache_off"]]
    rows += [("gRPC, cache hits", row) for row in report["grpc_cache_hits"]]
    rows.append(("in process, cache off", report["in_process"]))
    lines = [
        "",
        f"Answer latency, extractive answerer, {report['questions']} questions in turn, top_k={report['top_k']}",
        f"{'path':<24}{'clients':>8}{'requests':>10}{'p50 ms':>9}{'p95 ms':>9}{'req/s':>8}",
    ]
    for name, row in rows:
        lines.append(f"{name:<24}{row['clients']:>8}{row['requests']:>10}{row['p50_ms']:>9}{row['p95_ms']:>9}{row['requests_per_s']:>8}")
    verdict = "meets" if report["meets_target"] else "MISSES"
    lines.append(
        f"p50 gRPC at 1 client / in process: {report['ratio_p50_grpc_1_client_to_in_process']}x "
        f"({verdict} the target of at most {report['target_ratio']}x)"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
