"""kill -9 ingest, embedding and retrieval while 2,000 documents stream in; once
the pipeline has caught up, every document is in the index exactly once, at
its latest version, and deleted documents are gone.

The expected chunks of each document are what ingest published for its final
version on `ragline.chunks.v1` (distinct chunk ids; every replay of an event
must have produced the same ones). The index is read directly from the
milvus-lite file after retrieval stopped: a Search returns at most 50 hits,
ranked, and only what one principal may read, so it cannot prove that nothing
is doubled; the store itself can. A sample of documents is also searched
through the Search RPC, to show the rows are what a reader gets.

Replay a run with RAGLINE_CHAOS_SEED=<seed printed by the test>.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import defaultdict

import pytest
from pymilvus import MilvusClient

from ragline.kafka import CHUNKS, DEADLETTER, DOCUMENTS, EventProducer
from ragline.rpc import connect
from ragline.v1 import chunks_pb2, deadletter_pb2, retrieval_pb2, retrieval_pb2_grpc
from tests.chaos.crash_schedule import CrashSchedule, plan_crashes
from tests.chaos.document_stream import PRODUCER, READER_GROUP, plan_stream
from tests.chaos.pipeline_progress import end_offsets, read_since, wait_drained

pytestmark = pytest.mark.chaos

DOCUMENTS_KEPT = 2000
UPDATES = 200  # of the kept documents, replaced by version 2 later in the stream
DELETIONS = 50  # further documents, deleted after they were published
STREAM_S = 120.0
EXTRA_CRASHES = 1  # beyond one of each service
CRASHED = ("ingest", "embedding", "retrieval")
DRAIN_TIMEOUT_S = 420.0
SEARCHED_SAMPLE = 25
# Retrieval's default collection (RAGLINE_MILVUS_COLLECTION).
COLLECTION = "ragline_chunks"


def expected_chunks(tenant: str, since: dict[int, int]) -> tuple[dict[tuple[str, int], set[str]], dict[tuple[str, int], int]]:
    """(document, version) -> the chunk ids ingest published for it, and how many
    different id sets its events carried (more than one: a replay was not idempotent)."""
    published: dict[tuple[str, int], set[frozenset[str]]] = defaultdict(set)
    for event in read_since(CHUNKS, since, chunks_pb2.ChunkEvent, lambda e: e.header.tenant == tenant):
        if event.HasField("upsert"):
            ids = frozenset(chunk.chunk_id for chunk in event.upsert.chunks)
            published[(event.document_id, event.document_version)].add(ids)
    return (
        {key: set().union(*sets) for key, sets in published.items()},
        {key: len(sets) for key, sets in published.items()},
    )


def indexed_rows(uri: str, tenant: str) -> list[dict]:
    client = MilvusClient(uri=uri)
    try:
        client.load_collection(COLLECTION)
        iterator = client.query_iterator(
            COLLECTION,
            batch_size=1000,
            filter=f"tenant == {json.dumps(tenant)}",
            output_fields=["chunk_id", "document_id", "document_version", "ordinal"],
        )
        rows: list[dict] = []
        while batch := iterator.next():
            rows.extend(batch)
        iterator.close()
        return rows
    finally:
        client.close()


def searched_hits(tenant_token: str, document_ids: list[str]) -> dict[str, list[retrieval_pb2.SearchHit]]:
    metadata = [("authorization", f"Bearer {tenant_token}")]
    with connect("retrieval") as channel:
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        return {
            document_id: list(
                stub.Search(
                    retrieval_pb2.SearchRequest(query="warehouse safety", top_k=50, document_ids=[document_id]),
                    metadata=metadata,
                    timeout=30,
                ).hits
            )
            for document_id in document_ids
        }


@pytest.mark.timeout(900)
def test_every_document_is_indexed_exactly_once_after_services_are_killed(chaos_platform):
    platform = chaos_platform
    seed = int(os.environ.get("RAGLINE_CHAOS_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\ncrash test seed {seed} (replay with RAGLINE_CHAOS_SEED={seed}), tenant {platform.tenant}, logs {platform.data / 'run'}")
    rng = random.Random(seed)
    plan = plan_stream(platform.tenant, rng.randrange(2**32), DOCUMENTS_KEPT, UPDATES, DELETIONS)
    crashes = plan_crashes(rng, CRASHED, EXTRA_CRASHES, STREAM_S)
    print("planned crashes: " + ", ".join(f"{c.service} at {c.at_s:.1f}s" for c in crashes))
    since = {topic: end_offsets(topic) for topic in (CHUNKS, DEADLETTER)}

    producer = EventProducer(PRODUCER)
    started = time.monotonic()
    schedule = CrashSchedule(platform.launcher, crashes, started)
    schedule.start()
    interval = STREAM_S / len(plan.events)
    for index, planned in enumerate(plan.events):
        time.sleep(max(0.0, started + index * interval - time.monotonic()))
        producer.publish(DOCUMENTS, planned.key, planned.event)
    producer.flush()
    print(f"published {len(plan.events)} events in {time.monotonic() - started:.1f}s")
    schedule.join(timeout=300)
    assert not schedule.is_alive(), "a killed service did not come back within 300 s"
    assert schedule.error is None, f"crash schedule failed: {schedule.error}"
    for record in schedule.records:
        print(f"  kill -9 {record.crash.service} (pid {record.pid}) at {record.killed_at_s:.1f}s, SERVING again after {record.ready_after_s:.1f}s")

    lags = wait_drained(platform.stages(), DRAIN_TIMEOUT_S)
    assert not any(lags.values()), f"the pipeline did not catch up within {DRAIN_TIMEOUT_S:.0f}s: {lags}"
    print(f"caught up {time.monotonic() - started:.0f}s after the stream started")

    letters = list(
        read_since(DEADLETTER, since[DEADLETTER], deadletter_pb2.DeadLetter, lambda d: d.original_key.startswith(f"{platform.tenant}/".encode()))
    )
    assert not letters, f"{len(letters)} events were dead-lettered, e.g. {letters[0].consumer}/{letters[0].stage}: {letters[0].reason}"

    expected, id_sets = expected_chunks(platform.tenant, since[CHUNKS])
    final = plan.final_versions
    never_chunked = sorted(d for d, v in final.items() if (d, v) not in expected)
    assert not never_chunked, f"ingest never published chunks for {len(never_chunked)} documents, e.g. {never_chunked[:5]}"
    unstable = sorted(key for key, count in id_sets.items() if count > 1)
    assert not unstable, f"replayed events gave different chunk ids for {unstable[:5]}"
    wanted = {d: expected[(d, v)] for d, v in final.items()}

    token = platform.minter.mint("chaos-auditor", platform.tenant, (READER_GROUP,), "restricted")
    sample = random.Random(seed).sample(sorted(final), SEARCHED_SAMPLE)
    for document_id, hits in searched_hits(token, sample).items():
        assert {hit.chunk_id for hit in hits} == wanted[document_id], f"Search for {document_id} returned other chunks than indexed"
        assert {hit.provenance.document_version for hit in hits} == {final[document_id]}, document_id

    platform.launcher.stop("retrieval")  # milvus-lite: one process per file
    rows = indexed_rows(platform.milvus_uri, platform.tenant)
    by_document: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_document[row["document_id"]].append(row)

    total_expected = sum(len(ids) for ids in wanted.values())
    print(f"{len(final)} documents, {total_expected} chunks expected, {len(rows)} rows in Milvus")
    missing = sorted(set(final) - set(by_document))
    resurrected = sorted(set(by_document) & plan.deleted)
    strangers = sorted(set(by_document) - set(final) - plan.deleted)
    doubled = sorted(d for d, found in by_document.items() if len({r["ordinal"] for r in found}) != len(found))
    stale = sorted(d for d, found in by_document.items() if d in final and {r["document_version"] for r in found} != {final[d]})
    different = sorted(d for d, found in by_document.items() if d in final and {r["chunk_id"] for r in found} != wanted[d])
    assert not missing, f"{len(missing)} documents are not in the index, e.g. {missing[:5]}"
    assert not resurrected, f"{len(resurrected)} deleted documents are still indexed, e.g. {resurrected[:5]}"
    assert not strangers, f"rows of documents never published: {strangers[:5]}"
    assert not doubled, f"{len(doubled)} documents have two rows at one position, e.g. {doubled[:5]}"
    assert not stale, f"{len(stale)} documents have rows of another version than their latest, e.g. {stale[:5]}"
    assert not different, f"{len(different)} documents hold other chunks than ingest published, e.g. {different[:5]}"
    assert len(rows) == total_expected
