"""Answer and AnswerStream over real gRPC, with real token verification."""

import grpc
import pytest

from ragline.v1 import generation_pb2, generation_pb2_grpc
from services.generation.errors import DependencyError
from services.generation.extractive import ExtractiveAnswerer
from services.generation.orchestrator import AnswerOrchestrator
from services.generation.server import GenerationServicer
from services.generation.answer_policy import AnswerPolicies, AnswerPolicy
from services.generation.prompt_registry import FixedPrompt
from test_generation_orchestrator import HITS, PROMPT, AuditLog, Embedder, Index, Policy, ScriptedAnswerer


class FailingAnswerer(ScriptedAnswerer):
    def answer(self, question, passages, prompt, max_tokens):
        raise DependencyError("model", "the model endpoint answered HTTP 401: invalid key", "failed")


@pytest.fixture
def serve_generation(serve):
    def start(index=None, answerer=None):
        orchestrator = AnswerOrchestrator(
            Policy(), Embedder(), index or Index(HITS), answerer or ExtractiveAnswerer(), AuditLog(),
            FixedPrompt(PROMPT), AnswerPolicies(AnswerPolicy()),
        )
        servicer = GenerationServicer(orchestrator, feedback=None)
        return generation_pb2_grpc.GenerationServiceStub(
            serve(generation_pb2_grpc.add_GenerationServiceServicer_to_server, servicer)
        )

    return start


def test_answer_returns_a_cited_answer(serve_generation, bearer):
    stub = serve_generation()

    request = generation_pb2.AnswerRequest(question="How often must passwords be changed?")

    response = stub.Answer(request, metadata=bearer())

    assert response.text.endswith("Passwords must be changed every 90 days. [2]")
    assert [(c.index, c.chunk_id) for c in response.citations] == [(2, "c-pw")]


def test_answer_stream_sends_deltas_then_the_final_answer(serve_generation, bearer):
    stub = serve_generation()
    question = "Whom do I ask for help, and how often must passwords be changed?"
    request = generation_pb2.AnswerStreamRequest(question=question)

    events = list(stub.AnswerStream(request, metadata=bearer()))

    deltas = [e.delta for e in events[:-1]]
    assert all(e.WhichOneof("event") == "delta" for e in events[:-1]) and len(deltas) >= 2
    assert events[-1].WhichOneof("event") == "final"
    assert "".join(deltas) == events[-1].final.text


def test_an_invalid_question_is_invalid_argument(serve_generation, bearer):
    stub = serve_generation()

    with pytest.raises(grpc.RpcError) as unary:
        stub.Answer(generation_pb2.AnswerRequest(question="", top_k=3), metadata=bearer())
    with pytest.raises(grpc.RpcError) as streamed:
        list(stub.AnswerStream(generation_pb2.AnswerStreamRequest(question="Why?", top_k=50), metadata=bearer()))

    assert unary.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "question is empty" in unary.value.details()
    assert streamed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "top_k=50 is out of range" in streamed.value.details()


def test_a_token_without_a_tenant_is_permission_denied(serve_generation, bearer):
    stub = serve_generation()

    with pytest.raises(grpc.RpcError) as raised:
        stub.Answer(generation_pb2.AnswerRequest(question="Anything?"), metadata=bearer(tenant=""))

    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "no tenant claim" in raised.value.details()


def test_an_unavailable_dependency_is_unavailable_and_a_broken_one_internal(serve_generation, bearer):
    class DownIndex(Index):
        def search(self, query_vector, top_k):
            raise DependencyError("retrieval", "UNAVAILABLE: connection refused", "unavailable")

    question = generation_pb2.AnswerRequest(question="How often must passwords be changed?")

    with pytest.raises(grpc.RpcError) as down:
        serve_generation(index=DownIndex(HITS)).Answer(question, metadata=bearer())
    with pytest.raises(grpc.RpcError) as broken:
        serve_generation(answerer=FailingAnswerer([])).Answer(question, metadata=bearer())

    assert down.value.code() == grpc.StatusCode.UNAVAILABLE
    assert down.value.details() == "retrieval failed: UNAVAILABLE: connection refused"
    assert broken.value.code() == grpc.StatusCode.INTERNAL
    assert "HTTP 401" in broken.value.details()
