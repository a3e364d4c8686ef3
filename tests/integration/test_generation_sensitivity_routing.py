"""Sensitivity-aware model routing against loopback chat-completions servers (real HTTP
through the openai client): context above an endpoint's mark never reaches it, not
in routing order, not on retry, not as a fallback after a failure, a timeout or an
open circuit; the audit record says how each question was routed."""

from __future__ import annotations

import json

import pytest

from ragline.auth import Principal
from ragline.v1 import common_pb2, retrieval_pb2
from services.generation.answer_policy import AnswerPolicies, AnswerPolicy
from services.generation.circuit_breaker import CircuitBreaker
from services.generation.errors import DependencyError
from services.generation.model_endpoints import ModelEndpoint
from services.generation.orchestrator import AnswerOrchestrator
from services.generation.prompt_registry import FixedPrompt
from services.generation.retry import RetryPolicy
from services.generation.sensitivity_routing import SensitivityRouting
from test_openai_model_path import MODEL, PROMPT, AllowEverything, AuditLog, ChatCompletionsServer, FixedIndex, Reply, drain

PUBLIC, CONFIDENTIAL, RESTRICTED = (
    common_pb2.SENSITIVITY_PUBLIC, common_pb2.SENSITIVITY_CONFIDENTIAL, common_pb2.SENSITIVITY_RESTRICTED,
)
SECRET = "Project Kestrel merges with Globex on 1 March"
QUESTION = "When does Project Kestrel merge?"
ANSWER = ["Project Kestrel merges on 1 March [2]."]


def hit(chunk_id: str, text: str, sensitivity: int) -> retrieval_pb2.SearchHit:
    return retrieval_pb2.SearchHit(
        chunk_id=chunk_id, document_id=f"doc-{chunk_id}", text=text,
        provenance=common_pb2.Provenance(title=chunk_id, source_uri=f"https://wiki/{chunk_id}", sensitivity=sensitivity),
    )


PUBLIC_HIT = hit("c-pub", "The company canteen opens at 8 am.", PUBLIC)
CONFIDENTIAL_PASSAGES = [PUBLIC_HIT, hit("c-conf", f"{SECRET}. The deal stays secret until then.", CONFIDENTIAL)]
PUBLIC_PASSAGES = [PUBLIC_HIT, hit("c-pub2", "Project Kestrel is the new intranet design.", PUBLIC)]


def endpoint(server: ChatCompletionsServer, name: str, max_sensitivity: int, timeout_s: float = 5.0) -> ModelEndpoint:
    return ModelEndpoint(name, server.base_url, MODEL, "test-key", timeout_s, MODEL, max_sensitivity)


def routing(*endpoints: ModelEndpoint, attempts: int = 2, breaker_failures: int = 5) -> SensitivityRouting:
    return SensitivityRouting.connect(
        endpoints, RetryPolicy(max_attempts=attempts, backoff_s=0.01), 10.0, lambda: CircuitBreaker(breaker_failures, 30)
    )


def sent(server: ChatCompletionsServer) -> str:
    return json.dumps(server.requests)


def test_confidential_context_goes_only_to_the_endpoint_cleared_for_it_though_another_comes_first():
    with ChatCompletionsServer(ANSWER) as cloud, ChatCompletionsServer(ANSWER) as onprem:
        models = routing(endpoint(cloud, "cloud", PUBLIC), endpoint(onprem, "onprem", CONFIDENTIAL))

        draft = models.answer(QUESTION, CONFIDENTIAL_PASSAGES, PROMPT, 300)

    assert (draft.endpoint, draft.citations) == ("onprem", (2,))
    assert cloud.requests == []
    assert SECRET in sent(onprem)


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param([Reply(503), Reply(503)], id="5xx on every attempt"),
        pytest.param([Reply(429, {"Retry-After": "60"})], id="retry-after too long"),
        pytest.param([Reply(200, delay_s=2.0)], id="timeout"),
    ],
)
@pytest.mark.parametrize("streaming", [False, True], ids=["answer", "stream"])
def test_when_the_cleared_endpoint_fails_confidential_context_is_not_sent_to_the_fallback(failure, streaming):
    # onprem first and cloud as its fallback: public questions do fall back (next test), confidential ones never.
    with ChatCompletionsServer(ANSWER, script=failure) as onprem, ChatCompletionsServer(ANSWER) as cloud:
        models = routing(endpoint(onprem, "onprem", CONFIDENTIAL, timeout_s=0.5), endpoint(cloud, "cloud", PUBLIC))

        with pytest.raises(DependencyError) as raised:
            if streaming:
                drain(models.stream(QUESTION, CONFIDENTIAL_PASSAGES, PROMPT, 300))
            else:
                models.answer(QUESTION, CONFIDENTIAL_PASSAGES, PROMPT, 300)

    assert raised.value.failure == "unavailable"
    assert "onprem:" in raised.value.reason and "cloud" not in raised.value.reason
    assert onprem.requests and SECRET in sent(onprem)
    assert cloud.requests == []


def test_public_context_falls_back_to_every_endpoint_and_confidential_context_waits_out_the_open_circuit():
    with ChatCompletionsServer(ANSWER, status=503) as onprem, ChatCompletionsServer(ANSWER) as cloud:
        models = routing(endpoint(onprem, "onprem", CONFIDENTIAL), endpoint(cloud, "cloud", PUBLIC), attempts=1, breaker_failures=1)

        public = models.answer(QUESTION, PUBLIC_PASSAGES, PROMPT, 300)
        # onprem's circuit is now open: the router would skip it and go to the next endpoint.
        with pytest.raises(DependencyError) as raised:
            models.answer(QUESTION, CONFIDENTIAL_PASSAGES, PROMPT, 300)

    assert public.endpoint == "cloud"
    assert "onprem: circuit open" in raised.value.reason
    assert len(onprem.requests) == 1 and len(cloud.requests) == 1
    assert SECRET not in sent(cloud)


def test_context_no_endpoint_is_cleared_for_is_answered_extractively_and_reaches_no_endpoint():
    restricted = [PUBLIC_HIT, hit("c-restr", f"{SECRET}. The deal stays secret until then.", RESTRICTED)]
    with ChatCompletionsServer(ANSWER) as cloud, ChatCompletionsServer(ANSWER) as onprem:
        models = routing(endpoint(cloud, "cloud", PUBLIC), endpoint(onprem, "onprem", CONFIDENTIAL))

        draft = models.answer(QUESTION, restricted, PROMPT, 300)
        pieces, streamed = drain(models.stream(QUESTION, restricted, PROMPT, 300))

    assert cloud.requests == [] and onprem.requests == []
    assert draft.text.startswith("Extractive answer (no model endpoint may receive restricted passages):")
    assert SECRET in draft.text and draft.model == "extractive"
    assert "".join(pieces) == streamed.text == draft.text


CLEARED = Principal("user:ceo", "acme", ("board",), RESTRICTED)


def answer_with(models: SensitivityRouting, hits: list[retrieval_pb2.SearchHit], audit: AuditLog):
    index = FixedIndex(hits)
    flow = AnswerOrchestrator(AllowEverything(), index, index, models, audit, FixedPrompt(PROMPT), AnswerPolicies(AnswerPolicy()))
    return flow.answer(CLEARED, QUESTION, 0)


def routed(details: dict) -> tuple[str, str, str]:
    return details["max_sensitivity"], details["endpoint"], details["passages_withheld"]


def test_the_audit_record_names_the_highest_sensitivity_the_endpoint_and_the_passages_withheld():
    audit = AuditLog()
    with ChatCompletionsServer(ANSWER) as cloud, ChatCompletionsServer(ANSWER, script=[Reply(500)]) as onprem:
        models = routing(endpoint(cloud, "cloud", PUBLIC), endpoint(onprem, "onprem", CONFIDENTIAL), attempts=1)

        with pytest.raises(DependencyError):
            answer_with(models, CONFIDENTIAL_PASSAGES, audit)  # onprem fails once: an error, audited
        by_model = answer_with(models, CONFIDENTIAL_PASSAGES, audit)
        restricted = [PUBLIC_HIT, hit("c-restr", SECRET + ".", RESTRICTED)]
        by_extraction = answer_with(models, restricted, audit)

    assert cloud.requests == []
    (failed, failure), (_, onprem_details), (_, local_details) = audit.records
    assert failed == "error" and failure["max_sensitivity"] == "confidential"
    assert "onprem: HTTP 500" in failure["error"] and "cloud" not in failure["error"]
    assert by_model.text == "".join(ANSWER) and by_model.model != "extractive"
    assert routed(onprem_details) == ("confidential", "onprem", "0")
    assert by_extraction.model == "extractive"
    assert routed(local_details) == ("restricted", "none", "2")
