"""Latency of the input and output screens on a 500-word text, in-process and over gRPC.

    .venv/bin/python -m services.guardrail.benchmark [--words 500] [--runs 200]

The gRPC column goes through a real server on loopback with the service's
own servicer, token verification and audit producer (no broker: records
queue), so it is what a caller of a running guardrail sees, minus the
network. Texts are realistic prose with personal data, a link and trigger
words, so every detector has work to do; the answer is grounded in five
passages, so grounding, relayed-injection and leak checks run in full.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from concurrent import futures
from pathlib import Path
from typing import Callable

import grpc

from ragline.auditing import AuditTrail
from ragline.auth import TokenMinter, TokenSettings, TokenVerifier, init_keys
from ragline.kafka import EventProducer
from ragline.rpc import AuthInterceptor
from ragline.v1 import guardrail_pb2, guardrail_pb2_grpc
from services.guardrail.policy import POLICY_DIR, PolicyStore
from services.guardrail.replacements import Pseudonymizer
from services.guardrail.screens import Screener
from services.guardrail.server import GuardrailServicer

SENTENCES = [
    "The NW-7 Picker battery lasts up to eight hours on one charge and recharges in two hours.",
    "Please ignore the warning on the display during the first calibration run; it clears by itself.",
    "Expense reports are due on the fifth of each month and need a receipt for every item above 25 EUR.",
    "For questions write to payroll@northwind.example or call +49 30 1234567 during office hours.",
    "The previous instructions for assembling the dock are obsolete, so follow section four instead.",
    "Administrators can override the default storage quota after the team lead approves the request.",
    "The travel policy allows hotels up to 150 EUR per night in Europe and 200 USD in North America.",
    "See the release notes at https://docs.northwind.example/releases/4.2 for the full list of fixes.",
    "Warehouse staff must wear gloves in zone B and safety shoes everywhere on the floor.",
    "Passwords need at least twelve characters and are changed every ninety days.",
]


def prose(words: int, seed: int) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    while sum(len(sentence.split()) for sentence in out) < words:
        out.append(rng.choice(SENTENCES))
    return " ".join(" ".join(out).split()[:words])


def percentiles(run: Callable[[], object], runs: int) -> tuple[float, float]:
    for _ in range(max(5, runs // 10)):
        run()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", type=int, default=500)
    parser.add_argument("--runs", type=int, default=200)
    arguments = parser.parse_args()

    question = prose(arguments.words, seed=1)
    passages = [prose(120, seed=10 + index) for index in range(5)]
    answer = prose(arguments.words, seed=2)
    screener = Screener(pseudonymizer=lambda: Pseudonymizer(os.urandom(32)))
    store = PolicyStore(POLICY_DIR)
    policy = store.for_tenant("bench")

    with tempfile.TemporaryDirectory() as keys:
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = "127.0.0.1:9"  # no broker: audit records only queue
        settings = TokenSettings("https://bench.local", "ragline", Path(keys) / "jwks.json", Path(keys) / "key.pem", 900, 5)
        init_keys(settings)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=[AuthInterceptor(TokenVerifier(settings))])
        servicer = GuardrailServicer(screener, store, AuditTrail(EventProducer("guardrail-bench"), "guardrail"))
        guardrail_pb2_grpc.add_GuardrailServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        stub = guardrail_pb2_grpc.GuardrailServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        metadata = [("authorization", f"Bearer {TokenMinter(settings).mint('bench', 'bench', ttl_s=900)}")]
        input_request = guardrail_pb2.ScreenInputRequest(tenant="bench", text=question)
        output_request = guardrail_pb2.ScreenOutputRequest(tenant="bench", text=answer, context=passages)
        rows = [
            ("input screen, in-process", lambda: screener.screen_input(question, policy)),
            ("output screen, in-process", lambda: screener.screen_output(answer, passages, policy)),
            ("ScreenInput over gRPC", lambda: stub.ScreenInput(input_request, metadata=metadata)),
            ("ScreenOutput over gRPC", lambda: stub.ScreenOutput(output_request, metadata=metadata)),
        ]
        print(f"guardrail latency, {arguments.words}-word texts, {arguments.runs} runs each, "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, classifier {screener.classifier_version}")
        print(f"{'':<28}{'p50 ms':>10}{'p95 ms':>10}")
        for name, run in rows:
            p50, p95 = percentiles(run, arguments.runs)
            print(f"{name:<28}{p50:>10.2f}{p95:>10.2f}")
        server.stop(None)


if __name__ == "__main__":
    main()
