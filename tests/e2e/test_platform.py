"""A document published upstream becomes searchable; a question comes back as
a cited answer; each is one trace; a bad event goes to the dead-letter topic."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from ragline.cli import corpus
from ragline.cli.demo import wait_searchable
from ragline.cli.main import ask, publish_documents
from ragline.config import kafka_client_settings
from ragline.kafka import DEADLETTER, DOCUMENTS
from ragline.v1 import deadletter_pb2

pytestmark = pytest.mark.e2e

QUESTION = "How long does the NW-7 Picker battery last on one charge?"

# (parent service, parent span, child service, child span): the edges one
# question's trace must contain, checked against the spans the services exported.
QUESTION_EDGES = [
    ("generation", "ragline.v1.GuardrailService/ScreenInput", "guardrail", "ragline.v1.GuardrailService/ScreenInput"),
    ("generation", "ragline.v1.EmbeddingService/Embed", "embedding", "ragline.v1.EmbeddingService/Embed"),
    ("generation", "ragline.v1.RetrievalService/Search", "retrieval", "ragline.v1.RetrievalService/Search"),
    ("generation", "ragline.v1.GuardrailService/ScreenOutput", "guardrail", "ragline.v1.GuardrailService/ScreenOutput"),
]

# The edges one document's trace must contain, from the upstream producer to the index.
DOCUMENT_EDGES = [
    ("e2e-upstream", "send ragline.documents.v1", "ingest", "process ragline.documents.v1"),
    ("ingest", "ragline.v1.GuardrailService/ScreenDocument", "guardrail", "ragline.v1.GuardrailService/ScreenDocument"),
    ("ingest", "send ragline.chunks.v1", "embedding", "process ragline.chunks.v1"),
    ("embedding", "send ragline.embeddings.v1", "retrieval", "process ragline.embeddings.v1"),
]


def edges_missing(spans: list[dict], edges: list[tuple[str, str, str, str]]) -> list[tuple[str, str, str, str]]:
    by_id = {span["span_id"]: span for span in spans}
    found = set()
    for child in spans:
        parent = by_id.get(child["parent_span_id"])
        if parent:
            found.add((parent["service"], parent["name"], child["service"], child["name"]))
    return [edge for edge in edges if edge not in found]


def ancestors_reach(spans: list[dict], span: dict, service: str, name: str) -> bool:
    by_id = {s["span_id"]: s for s in spans}
    while span is not None:
        if span["service"] == service and span["name"] == name:
            return True
        span = by_id.get(span["parent_span_id"])
    return False


@pytest.fixture(scope="module")
def indexed(platform, manifest):
    """The sample corpus, published under this run's tenant and searchable."""
    _, specs = corpus.specs_from_manifest(manifest)
    published = dict(publish_documents(platform.tenant, specs))
    every_group = tuple(sorted({group for spec in specs for group in spec.groups}))
    missing = wait_searchable(platform.tenant, specs, platform.token("indexer", every_group, "restricted"), timeout=180)
    assert not missing, f"not searchable: {missing}"
    return specs, published


def battery_spec(specs):
    return next(spec for spec in specs if "nw-7" in spec.title.lower() or "nw7" in spec.document_id.lower())


def test_question_is_answered_from_the_right_document_with_one_trace(platform, indexed):
    specs, _ = indexed
    answer = ask(QUESTION, platform.token())

    assert not answer.refused, answer.refusal_reason
    assert answer.citations, "the answer cites nothing"
    assert answer.citations[0].document_id == battery_spec(specs).document_id
    assert any(char.isdigit() for char in answer.text), answer.text
    assert f"[{answer.citations[0].index}]" in answer.text
    assert answer.model == "extractive"

    spans = platform.wait_for_spans(answer.trace_id, lambda s: not edges_missing(s, QUESTION_EDGES))
    assert not edges_missing(spans, QUESTION_EDGES), f"question trace lacks edges: {edges_missing(spans, QUESTION_EDGES)}"
    services = {span["service"] for span in spans}
    assert {"generation", "guardrail", "embedding", "retrieval"} <= services
    for span in spans:
        if span["service"] in ("guardrail", "embedding", "retrieval") and span["kind"] == "server":
            assert ancestors_reach(spans, span, "generation", "ragline.v1.GenerationService/Answer"), span


def test_each_document_is_one_trace_from_producer_to_index(platform, indexed):
    specs, published = indexed
    trace_id = published[battery_spec(specs).document_id]

    spans = platform.wait_for_spans(trace_id, lambda s: not edges_missing(s, DOCUMENT_EDGES))
    assert not edges_missing(spans, DOCUMENT_EDGES), f"document trace lacks edges: {edges_missing(spans, DOCUMENT_EDGES)}"
    assert {"e2e-upstream", "ingest", "guardrail", "embedding", "retrieval"} <= {span["service"] for span in spans}


def test_a_reader_outside_the_access_list_gets_no_citation_of_the_document(platform, indexed):
    specs, _ = indexed
    outsider = platform.token(user="mallory", groups=("contractors",), clearance="restricted")
    answer = ask(QUESTION, outsider)
    assert battery_spec(specs).document_id not in {citation.document_id for citation in answer.citations}

    other_tenant = platform.token(tenant=f"other-{uuid.uuid4().hex[:6]}", groups=("all-staff",), clearance="restricted")
    answer = ask(QUESTION, other_tenant)
    assert answer.refused and not answer.citations


def end_offsets(topic: str) -> dict[int, int]:
    consumer = Consumer({**kafka_client_settings(), "group.id": f"e2e-{uuid.uuid4().hex}"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    consumer.close()
    return ends


def read_dead_letters(since: dict[int, int], timeout: float = 60.0) -> list[deadletter_pb2.DeadLetter]:
    consumer = Consumer({**kafka_client_settings(), "group.id": f"e2e-{uuid.uuid4().hex}", "enable.auto.commit": False})
    consumer.assign([TopicPartition(DEADLETTER, p, offset) for p, offset in since.items()])
    letters = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is not None and not message.error():
            letters.append(deadletter_pb2.DeadLetter.FromString(message.value()))
            if any(letter.source_topic == DOCUMENTS for letter in letters):
                break
    consumer.close()
    return letters


def test_bytes_that_are_no_event_go_to_the_dead_letter_topic_and_ingest_goes_on(platform, indexed, tmp_path):
    since = end_offsets(DEADLETTER)
    garbage = b"\xff\x00 this is not a DocumentEvent \x13\x37"
    producer = Producer(kafka_client_settings())
    producer.produce(DOCUMENTS, key=f"{platform.tenant}/garbage".encode(), value=garbage)
    producer.flush(10)

    letters = [letter for letter in read_dead_letters(since) if letter.original_value == garbage]
    assert letters, "the undecodable event did not reach the dead-letter topic"
    assert letters[0].consumer == "ingest" and letters[0].stage == "decode"
    assert "DocumentEvent" in letters[0].reason

    after = tmp_path / "after-garbage.md"
    after.write_text("# Parking\n\nVisitor parking at the Northwind depot is in lot C, behind the loading dock.\n")
    spec = corpus.DocumentSpec(path=after, document_id=f"after-garbage-{uuid.uuid4().hex[:6]}", title="Parking", groups=["all-staff"])
    publish_documents(platform.tenant, [spec])
    assert not wait_searchable(platform.tenant, [spec], platform.token(), timeout=120), "ingest stopped after the bad event"


def test_sigterm_stops_a_service_in_order_and_it_comes_back(platform):
    launcher = platform.launcher
    pid = launcher.pid("retrieval")
    launcher.stop("retrieval", timeout=30)
    log_lines = launcher.log_file("retrieval").read_text().splitlines()
    messages = [json.loads(line).get("message") for line in log_lines if line.startswith("{")]
    assert "stopping" in messages, "retrieval did not receive SIGTERM"
    assert "stopped" in messages[messages.index("stopping"):], "retrieval did not finish its shutdown sequence"

    launcher.start("retrieval")
    launcher.wait_ready("retrieval", timeout=120)
    assert launcher.pid("retrieval") not in (None, pid)
