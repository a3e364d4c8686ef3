"""Embedding throughput for chunk-sized texts: chunks/s and RSS per batch size.

    .venv/bin/python bench/bench_embedding.py
    # the same measurement with torch, in a venv that has sentence-transformers:
    /tmp/torchref/bin/python bench/bench_embedding.py --backend sentence-transformers

Chunks are English prose of about --tokens model tokens ([CLS]/[SEP] included),
cut at a word boundary. numpy's figures depend on the OpenBLAS kernel, which
OPENBLAS_CORETYPE overrides; the last line shows the one loaded (with
threadpoolctl installed). See docs/adr/0002-embedding-runtime.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "libs")]

from ragline import minilm  # noqa: E402

_SENTENCES = [
    "The ingest service reads document events from Kafka and validates their schema before parsing.",
    "Each tenant owns its documents, and access lists are checked on every search request.",
    "When a document is updated, the previous version's chunks are removed from the vector index.",
    "Operators can follow a single request through every service by looking up its trace id in Jaeger.",
    "Retries use exponential backoff with jitter, so a failing broker is not flooded with requests.",
    "Personal data such as e-mail addresses and phone numbers is redacted before any text is embedded.",
    "The quarterly report shows that support tickets resolved on first contact rose by eleven percent.",
    "Our travel policy requires economy class for flights shorter than six hours, unless a manager approves.",
    "To reset a forgotten password, open the sign-in page and follow the link sent to your work address.",
    "Backups of the primary database are taken every night at two o'clock and kept for thirty days.",
    "A malformed event is sent to the dead-letter topic together with the reason it was rejected.",
    "The onboarding checklist covers laptop setup, security training, and access to the shared drives.",
    "Latency at the ninety-ninth percentile stayed below three hundred milliseconds during the load test.",
    "Customers on the enterprise plan can export their audit log as signed JSON lines at any time.",
    "Invoices are due within thirty days; late payments incur a fee of one and a half percent per month.",
    "The cache key includes the tenant, the normalized question, and the version of the prompt template.",
    "If the language model is unavailable, the service answers with the most relevant passages instead.",
    "Engineers on call should acknowledge an alert within five minutes and post updates every half hour.",
    "Sensitive documents are labelled confidential or restricted, and only cleared staff may read them.",
    "The migration moved four million records to the new cluster without any downtime for customers.",
]


def make_chunks(count: int, target_tokens: int, seed: int = 7) -> list[str]:
    """Deterministic prose chunks of at most target_tokens tokens, cut at a word boundary."""
    tokenizer = minilm.load_tokenizer()
    tokenizer.no_truncation()
    rng = random.Random(seed)
    chunks = []
    for _ in range(count):
        text = " ".join(rng.choices(_SENTENCES, k=2 * target_tokens // 15))
        # Token 0 is [CLS]; stopping at token target-2 leaves room for [SEP].
        _, cut = tokenizer.encode(text).offsets[target_tokens - 2]
        chunk = text[:cut].rsplit(" ", 1)[0]
        assert len(tokenizer.encode(chunk).ids) <= target_tokens
        chunks.append(chunk)
    return chunks


def numpy_backend(batch_size: int) -> Callable[[Sequence[str]], np.ndarray]:
    from services.embedding.encoder import MiniLMEncoder

    return MiniLMEncoder(batch_size=batch_size).encode


def torch_backend(batch_size: int) -> Callable[[Sequence[str]], np.ndarray]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm.model_dir()), device="cpu")
    return lambda texts: model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True)


BACKENDS = {"numpy": numpy_backend, "sentence-transformers": torch_backend}


def rss_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset_peak_rss) of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def blas_description() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (pip install threadpoolctl to see it)"
    np.ones((2, 2), dtype=np.float32) @ np.ones((2, 2), dtype=np.float32)  # load the BLAS
    return ", ".join(
        f"{pool['internal_api']} {pool.get('architecture') or ''} x{pool['num_threads']}".replace("  ", " ")
        for pool in threadpool_info()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="numpy")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--chunks", type=int, default=128, help="chunks per timed run")
    parser.add_argument("--tokens", type=int, default=250, help="target tokens per chunk")
    # Best-of-N, because a shared machine's neighbours only ever slow a run down.
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per batch size")
    args = parser.parse_args()

    chunks = make_chunks(args.chunks, args.tokens)
    counter = minilm.load_tokenizer()
    mean_tokens = np.mean([len(counter.encode(c).ids) for c in chunks])
    blas = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}
    print(f"backend={args.backend} python={platform.python_version()} cpus={os.cpu_count()} env={blas or '{}'}")
    print(f"{args.chunks} chunks, {mean_tokens:.0f} tokens on average")
    print(f"{'batch':>5} {'best chunks/s':>13} {'median':>7} {'ms/chunk':>9} {'rss MiB':>8} {'peak MiB':>9}")
    for batch_size in args.batch_sizes:
        encode = BACKENDS[args.backend](batch_size)
        encode(chunks[:batch_size])  # warm-up: lazy init, allocator, BLAS threads
        reset_peak_rss()
        seconds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            encode(chunks)
            seconds.append(time.perf_counter() - started)
        best, median = args.chunks / min(seconds), args.chunks / statistics.median(seconds)
        print(
            f"{batch_size:>5} {best:>13.1f} {median:>7.1f} {1000 / best:>9.1f}"
            f" {rss_mib('VmRSS'):>8.0f} {rss_mib('VmHWM'):>9.0f}"
        )
        del encode
    print(f"BLAS and thread pools loaded: {blas_description()}")


if __name__ == "__main__":
    main()
