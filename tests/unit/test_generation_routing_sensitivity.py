"""Sensitivity marks on model endpoints and the route each sensitivity gets, without servers
(the HTTP side, with failures and fallbacks, is tests/integration/test_generation_sensitivity_routing.py)."""

from pathlib import Path

import pytest

from ragline.auth import Principal
from ragline.config import ConfigError
from ragline.v1 import common_pb2, embedding_pb2, guardrail_pb2, retrieval_pb2
from services.generation.answer_policy import AnswerPolicies, AnswerPolicy
from services.generation.circuit_breaker import CircuitBreaker
from services.generation.model_endpoints import ModelEndpoint, endpoints_from_env
from services.generation.orchestrator import AnswerOrchestrator
from services.generation.prompt_registry import FixedPrompt
from services.generation.prompts import load_prompt
from services.generation.retry import RetryPolicy
from services.generation.sensitivity_routing import AnsweredWithoutModel, SensitivityRouting, passage_sensitivity

PUBLIC, INTERNAL, CONFIDENTIAL, RESTRICTED = (
    common_pb2.SENSITIVITY_PUBLIC, common_pb2.SENSITIVITY_INTERNAL,
    common_pb2.SENSITIVITY_CONFIDENTIAL, common_pb2.SENSITIVITY_RESTRICTED,
)
PROMPT = load_prompt("answer@v2")
QUESTION = "How often must passwords be changed?"


def hit(chunk_id: str, text: str, sensitivity: int) -> retrieval_pb2.SearchHit:
    return retrieval_pb2.SearchHit(
        chunk_id=chunk_id, document_id=f"doc-{chunk_id}", text=text,
        provenance=common_pb2.Provenance(title=chunk_id, sensitivity=sensitivity),
    )


def endpoint(name: str, max_sensitivity: int) -> ModelEndpoint:
    return ModelEndpoint(name, f"http://127.0.0.1:9/{name}/v1", "m", "k", 5.0, "m", max_sensitivity)


def routing(*endpoints: ModelEndpoint) -> SensitivityRouting:
    return SensitivityRouting.connect(endpoints, RetryPolicy(), 10.0, lambda: CircuitBreaker(5, 30))


def write_endpoints(tmp_path: Path, monkeypatch, body: str) -> None:
    path = tmp_path / "endpoints.toml"
    path.write_text(body)
    monkeypatch.setenv("RAGLINE_MODEL_ENDPOINTS_FILE", str(path))


def test_each_endpoint_is_cleared_up_to_its_mark_and_an_unmarked_one_for_public_only(monkeypatch, tmp_path):
    write_endpoints(tmp_path, monkeypatch, (
        '[[endpoints]]\nname = "cloud"\nbase_url = "https://api.example/v1"\nmodel = "m"\n\n'
        '[[endpoints]]\nname = "onprem"\nbase_url = "http://vllm:8000/v1"\nmodel = "m"\nmax_sensitivity = "Confidential"\n'
    ))

    cloud, onprem = endpoints_from_env()

    assert (cloud.max_sensitivity, onprem.max_sensitivity) == (PUBLIC, CONFIDENTIAL)


def test_the_single_endpoint_from_variables_is_public_only_unless_marked(monkeypatch):
    monkeypatch.delenv("RAGLINE_MODEL_ENDPOINTS_FILE", raising=False)
    monkeypatch.setenv("RAGLINE_MODEL_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("RAGLINE_MODEL_NAME", "qwen")
    monkeypatch.delenv("RAGLINE_MODEL_MAX_SENSITIVITY", raising=False)
    [unmarked] = endpoints_from_env()
    monkeypatch.setenv("RAGLINE_MODEL_MAX_SENSITIVITY", "restricted")
    [marked] = endpoints_from_env()

    assert (unmarked.max_sensitivity, marked.max_sensitivity) == (PUBLIC, RESTRICTED)


@pytest.mark.parametrize("mark", ['"secret"', "3", '""'])
def test_an_unknown_mark_stops_the_service_naming_the_endpoint(monkeypatch, tmp_path, mark):
    write_endpoints(tmp_path, monkeypatch, f'[[endpoints]]\nname = "cloud"\nbase_url = "http://x/v1"\nmodel = "m"\nmax_sensitivity = {mark}\n')

    with pytest.raises(ConfigError, match="endpoint cloud max_sensitivity=.*use one of public, internal, confidential, restricted"):
        endpoints_from_env()


def test_the_shipped_example_keeps_confidential_content_on_premises(monkeypatch):
    example = Path(__file__).parents[2] / "services" / "generation" / "config" / "endpoints.example.toml"
    monkeypatch.setenv("RAGLINE_MODEL_ENDPOINTS_FILE", str(example))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    marks = {e.name: e.max_sensitivity for e in endpoints_from_env()}

    assert marks == {"openai": INTERNAL, "vllm-onprem": CONFIDENTIAL}


def test_the_most_sensitive_passage_decides_and_an_unlabelled_one_counts_as_restricted():
    assert passage_sensitivity([hit("a", "x", PUBLIC), hit("b", "y", CONFIDENTIAL), hit("c", "z", INTERNAL)]) == CONFIDENTIAL
    assert passage_sensitivity([hit("a", "x", PUBLIC), hit("b", "y", common_pb2.SENSITIVITY_UNSPECIFIED)]) == RESTRICTED
    assert passage_sensitivity([hit("a", "x", PUBLIC), hit("b", "y", 9)]) == RESTRICTED


def test_each_sensitivity_is_routed_only_to_the_endpoints_cleared_for_it_in_routing_order():
    models = routing(endpoint("cloud", PUBLIC), endpoint("partner", INTERNAL), endpoint("onprem", CONFIDENTIAL))

    def cleared(sensitivity: int) -> tuple[str, ...]:
        return models.route([hit("a", "x", PUBLIC), hit("b", "y", sensitivity)]).endpoints

    assert cleared(PUBLIC) == ("cloud", "partner", "onprem")
    assert cleared(INTERNAL) == ("partner", "onprem")
    assert cleared(CONFIDENTIAL) == ("onprem",)
    assert cleared(RESTRICTED) == ()
    assert isinstance(models.route([hit("r", "x", RESTRICTED)]).answerer, AnsweredWithoutModel)


PASSAGES = [
    hit("c-hol", "Employees get 25 days of paid holiday per year.", PUBLIC),
    hit("c-pw", "Passwords must be changed every 90 days.", RESTRICTED),
]


def test_passages_no_endpoint_may_receive_are_answered_extractively_saying_why():
    models = routing(endpoint("cloud", PUBLIC))

    draft = models.answer(QUESTION, PASSAGES, PROMPT, 300)
    pieces = []
    stream = models.stream(QUESTION, PASSAGES, PROMPT, 300)
    try:
        while True:
            pieces.append(next(stream))
    except StopIteration as end:
        streamed = end.value

    assert draft.text == "Extractive answer (no model endpoint may receive restricted passages): Passwords must be changed every 90 days. [2]"
    assert (draft.model, draft.endpoint, draft.citations) == ("extractive", "", (2,))
    assert "".join(pieces) == streamed.text == draft.text


class AllowEverything:
    def screen_input(self, tenant, text):
        return guardrail_pb2.ScreenInputResponse(allowed=True, text=text)

    def screen_output(self, tenant, text, context):
        return guardrail_pb2.ScreenOutputResponse(allowed=True, text=text)


class Index:
    def embed(self, text):
        return embedding_pb2.EmbedResponse(vectors=[embedding_pb2.Vector(values=[1.0, 0.0])], model="m")

    def search(self, query_vector, top_k):
        return retrieval_pb2.SearchResponse(hits=PASSAGES, embedding_model="m")


class AuditLog:
    def __init__(self):
        self.details: list[dict] = []

    def record(self, action, tenant, principal, outcome, *, document_ids=(), chunk_ids=(), details=None):
        self.details.append(dict(details or {}))


def test_the_audit_record_carries_the_routing_decision():
    audit = AuditLog()
    index = Index()
    flow = AnswerOrchestrator(
        AllowEverything(), index, index, routing(endpoint("cloud", PUBLIC)), audit,
        FixedPrompt(PROMPT), AnswerPolicies(AnswerPolicy()),
    )

    flow.answer(Principal("user:alice", "acme", ("eng",), RESTRICTED), QUESTION, 0)

    [details] = audit.details
    assert (details["max_sensitivity"], details["endpoint"], details["passages_withheld"]) == ("restricted", "none", "2")
    assert details["model"] == "extractive"
