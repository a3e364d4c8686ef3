"""Filtered search at 100,000 chunks: the access filter's cost beside unfiltered search.

    .venv/bin/python bench/bench_search.py                  # builds data/bench/search once, then reuses it
    .venv/bin/python bench/bench_search.py --queries 20     # a quick check that it works

One milvus-lite collection of --chunks rows with the retrieval schema
(services/retrieval/index.py) plus `readers`, the access list as a string of
reader tokens (docs/adr/0013). Vectors are random unit vectors: no model runs,
and the figures are the index's alone. Rows are spread over 10 tenants, 50
groups, 4 sensitivities; each grants 1-3 groups, and one in five also names
1-2 users. The principal is typical: one tenant, clearance 3 (confidential),
3 groups and its subject.

Each query runs, after a warm-up, as unfiltered search and with the token
filter (tenant, sensitivity, the access list as `readers like`), top_k 5,
every scalar field returned, as Search does; the first --array-queries also
run the array filter (the same tenant and sensitivity terms,
`array_contains_any` on the two access arrays), which takes seconds each. The
two filters must return the same hits for the same query and principal; the
run stops if they do not. Writes bench/results/search.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "libs")]

from pymilvus import DataType, MilvusClient  # noqa: E402

from ragline.auth import Principal  # noqa: E402
from services.retrieval.access import AccessFilter, readers  # noqa: E402
from services.retrieval.rows import DIMENSION, MAX_ACCESS_ENTRIES, MAX_ACCESS_ENTRY_BYTES, MAX_BYTES, SCALAR_FIELDS  # noqa: E402

COLLECTION = "bench_chunks"
TENANTS = [f"tenant-{n:02d}" for n in range(10)]
GROUPS = [f"group-{n:02d}" for n in range(50)]
USERS = [f"user-{n:03d}@example.com" for n in range(200)]
INSERT_BATCH = 2000


def token_expression(access: AccessFilter) -> str:
    return access.expression()


def array_expression(access: AccessFilter) -> str:
    """The access filter as retrieval built it before docs/adr/0013: the two arrays."""
    return access.expression(by_tokens=False)


def create_collection(client: MilvusClient) -> None:
    """The retrieval schema (services/retrieval/index.py) with `readers`."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    varchar = DataType.VARCHAR
    schema.add_field("chunk_id", varchar, is_primary=True, max_length=MAX_BYTES["chunk_id"])
    schema.add_field("tenant", varchar, max_length=MAX_BYTES["tenant"])
    schema.add_field("document_id", varchar, max_length=MAX_BYTES["document_id"])
    schema.add_field("document_version", DataType.INT64)
    schema.add_field("ordinal", DataType.INT32)
    schema.add_field("text", varchar, max_length=MAX_BYTES["text"])
    schema.add_field("heading_path", DataType.JSON)
    schema.add_field("sensitivity", DataType.INT32)
    for field in ("access_users", "access_groups"):
        schema.add_field(
            field, DataType.ARRAY, element_type=varchar, max_capacity=MAX_ACCESS_ENTRIES, max_length=MAX_ACCESS_ENTRY_BYTES
        )
    schema.add_field("readers", varchar, max_length=MAX_BYTES["readers"])
    for field in ("title", "source_uri", "origin_system", "author", "content_hash"):
        schema.add_field(field, varchar, max_length=MAX_BYTES[field])
    for field in ("created_at", "updated_at", "published_at", "indexed_at"):
        schema.add_field(field, DataType.INT64)
    schema.add_field("suspected_injection", DataType.BOOL)
    schema.add_field("embedding_model", varchar, max_length=MAX_BYTES["embedding_model"])
    schema.add_field("embedding_model_version", varchar, max_length=MAX_BYTES["embedding_model_version"])
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIMENSION)
    indexes = MilvusClient.prepare_index_params()
    indexes.add_index("vector", index_type="FLAT", metric_type="COSINE")
    indexes.add_index("tenant", index_type="INVERTED")
    indexes.add_index("document_id", index_type="INVERTED")
    client.create_collection(COLLECTION, schema=schema, index_params=indexes, consistency_level="Strong")


def build(client: MilvusClient, chunks: int, seed: int) -> None:
    rng = random.Random(seed)
    vectors = np.random.default_rng(seed).standard_normal((chunks, DIMENSION), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.monotonic()
    for start in range(0, chunks, INSERT_BATCH):
        rows = []
        for n in range(start, min(start + INSERT_BATCH, chunks)):
            groups = rng.sample(GROUPS, rng.randint(1, 3))
            users = rng.sample(USERS, rng.randint(1, 2)) if rng.random() < 0.2 else []
            rows.append(
                {
                    "chunk_id": f"chunk-{n:06d}",
                    "tenant": rng.choice(TENANTS),
                    "document_id": f"doc-{n // 8:05d}",
                    "document_version": 1,
                    "ordinal": n % 8,
                    "text": f"Benchmark chunk {n}.",
                    "heading_path": [],
                    "sensitivity": rng.randint(1, 4),
                    "access_users": users,
                    "access_groups": groups,
                    "readers": readers(users, groups),
                    "title": "",
                    "source_uri": "",
                    "origin_system": "bench",
                    "author": "",
                    "content_hash": "",
                    "created_at": 0,
                    "updated_at": 0,
                    "published_at": 0,
                    "indexed_at": 0,
                    "suspected_injection": False,
                    "embedding_model": "random",
                    "embedding_model_version": "",
                    "vector": vectors[n].tolist(),
                }
            )
        client.insert(COLLECTION, rows)
        print(f"\r  inserted {min(start + INSERT_BATCH, chunks):,} of {chunks:,}", end="", flush=True)
    print(f"\n  built in {time.monotonic() - started:.0f} s")


def open_index(data: Path, chunks: int, seed: int) -> MilvusClient:
    """The cached collection when it holds `chunks` rows; else a new one."""
    data.mkdir(parents=True, exist_ok=True)
    client = MilvusClient(uri=str(data / "search.db"))
    if client.has_collection(COLLECTION):
        client.load_collection(COLLECTION)
        count = client.query(COLLECTION, filter="", output_fields=["count(*)"])[0]["count(*)"]
        if count == chunks:
            print(f"reusing {chunks:,} chunks in {data}")
            return client
        client.drop_collection(COLLECTION)
    print(f"building {chunks:,} chunks in {data}")
    create_collection(client)
    build(client, chunks, seed)
    # Searched as it is after a restart: sealed segments with their indexes, none of it still in memory only.
    client.flush(COLLECTION)
    client.load_collection(COLLECTION)
    return client


def principals(seed: int, count: int) -> list[AccessFilter]:
    """Typical principals: one tenant, clearance 3, three groups, a subject."""
    rng = random.Random(seed + 1)
    found = []
    for _ in range(count):
        principal = Principal(
            subject=rng.choice(USERS),
            tenant=rng.choice(TENANTS),
            groups=tuple(rng.sample(GROUPS, 3)),
            clearance=3,
        )
        access = AccessFilter.of(principal)
        assert access is not None
        found.append(access)
    return found


def search(client: MilvusClient, vector: list[float], expression: str, top_k: int) -> tuple[float, list[str]]:
    """Seconds taken, and the hits' chunk ids; the call Search makes (ChunkCollection.search)."""
    started = time.perf_counter()
    results = client.search(
        COLLECTION,
        data=[vector],
        filter=expression,
        limit=top_k,
        output_fields=SCALAR_FIELDS,
        search_params={"metric_type": "COSINE"},
    )
    elapsed = time.perf_counter() - started
    return elapsed, [hit["entity"]["chunk_id"] for hit in results[0]]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench" / "search", help="where the index is built and kept")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200, help="measured queries per variant, after --warmup")
    parser.add_argument("--array-queries", type=int, default=20, help="of those, how many also run the array filter (seconds each)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "search.json")
    args = parser.parse_args()

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    client = open_index(args.data, args.chunks, args.seed)
    rng = np.random.default_rng(args.seed + 2)
    vectors = rng.standard_normal((args.warmup + args.queries, DIMENSION), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    accesses = principals(args.seed, args.warmup + args.queries)
    variants: dict[str, Callable[[AccessFilter], str]] = {
        "unfiltered": lambda access: "",
        "array filter": array_expression,
        "token filter": token_expression,
    }
    latencies: dict[str, list[float]] = {name: [] for name in variants}
    for n, (vector, access) in enumerate(zip(vectors.tolist(), accesses)):
        hits: dict[str, list[str]] = {}
        # Interleaved, so that a change in the machine's load touches every variant alike.
        for name, expression in variants.items():
            if name == "array filter" and n >= args.warmup + args.array_queries:
                continue
            elapsed, hits[name] = search(client, vector, expression(access), args.top_k)
            if n >= args.warmup:
                latencies[name].append(elapsed)
        if "array filter" in hits and hits["array filter"] != hits["token filter"]:
            sys.exit(f"query {n}: the token filter returned {hits['token filter']}, the array filter {hits['array filter']}")
        if len(hits["token filter"]) < args.top_k:
            sys.exit(f"query {n}: only {len(hits['token filter'])} readable hits; the data set is too sparse to measure")
    client.close()

    base = statistics.median(latencies["unfiltered"])
    report: dict[str, Any] = {
        "chunks": args.chunks,
        "queries": args.queries,
        "top_k": args.top_k,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}",
        "array_filter_queries": len(latencies["array filter"]),
        "filters_returned_same_hits": True,
        "variants": {},
    }
    print(
        f"\n{args.chunks:,} chunks, top_k {args.top_k}; the two filters returned the same hits "
        f"in all {len(latencies['array filter'])} queries that ran both\n"
    )
    print(f"{'search':<14} {'queries':>8} {'p50 ms':>8} {'p95 ms':>8} {'p50 / unfiltered':>17} {'p95 / unfiltered':>17}")
    base95 = percentile(latencies["unfiltered"], 0.95)
    for name, values in latencies.items():
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        report["variants"][name] = {
            "queries": len(values),
            "p50_ms": round(p50 * 1e3, 2),
            "p95_ms": round(p95 * 1e3, 2),
            "ratio_p50": round(p50 / base, 2),
            "ratio_p95": round(p95 / base95, 2),
        }
        print(f"{name:<14} {len(values):8d} {p50 * 1e3:8.1f} {p95 * 1e3:8.1f} {p50 / base:17.2f} {p95 / base95:17.2f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
