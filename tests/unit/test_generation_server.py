"""Answer and AnswerStream over real gRPC, with real token verification."""

from concurrent import futures

import grpc
import pytest

from ragline.auth import TokenMinter, TokenSettings, TokenVerifier, init_keys
from ragline.rpc import AuthInterceptor
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


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    keys = tmp_path_factory.mktemp("keys")
    settings = TokenSettings(
        issuer="https://ragline.test", audience="ragline", jwks_path=keys / "jwks.json",
        signing_key_path=keys / "signing-key.pem", max_lifetime_s=900, leeway_s=5,
    )
    init_keys(settings)
    return settings


@pytest.fixture
def serve_generation(tokens):
    servers = []

    def start(index=None, answerer=None):
        orchestrator = AnswerOrchestrator(
            Policy(), Embedder(), index or Index(HITS), answerer or ExtractiveAnswerer(), AuditLog(),
            FixedPrompt(PROMPT), AnswerPolicies(AnswerPolicy()),
        )
        authenticate = AuthInterceptor(TokenVerifier(tokens))
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=[authenticate])
        generation_pb2_grpc.add_GenerationServiceServicer_to_server(GenerationServicer(orchestrator, feedback=None), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        return generation_pb2_grpc.GenerationServiceStub(channel)

    yield start
    for server in servers:
        server.stop(None)


def bearer(tokens, tenant="acme"):
    token = TokenMinter(tokens).mint("user:alice", tenant=tenant, groups=("eng",), clearance="internal")
    return [("authorization", f"Bearer {token}")]


def test_answer_returns_a_cited_answer(serve_generation, tokens):
    stub = serve_generation()

    request = generation_pb2.AnswerRequest(question="How often must passwords be changed?")

    response = stub.Answer(request, metadata=bearer(tokens))

    assert response.text.endswith("Passwords must be changed every 90 days. [2]")
    assert [(c.index, c.chunk_id) for c in response.citations] == [(2, "c-pw")]


def test_answer_stream_sends_deltas_then_the_final_answer(serve_generation, tokens):
    stub = serve_generation()
    question = "Whom do I ask for help, and how often must passwords be changed?"
    request = generation_pb2.AnswerStreamRequest(question=question)

    events = list(stub.AnswerStream(request, metadata=bearer(tokens)))

    deltas = [e.delta for e in events[:-1]]
    assert all(e.WhichOneof("event") == "delta" for e in events[:-1]) and len(deltas) >= 2
    assert events[-1].WhichOneof("event") == "final"
    assert "".join(deltas) == events[-1].final.text


def test_an_invalid_question_is_invalid_argument(serve_generation, tokens):
    stub = serve_generation()

    with pytest.raises(grpc.RpcError) as unary:
        stub.Answer(generation_pb2.AnswerRequest(question="", top_k=3), metadata=bearer(tokens))
    with pytest.raises(grpc.RpcError) as streamed:
        list(stub.AnswerStream(generation_pb2.AnswerStreamRequest(question="Why?", top_k=50), metadata=bearer(tokens)))

    assert unary.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "question is empty" in unary.value.details()
    assert streamed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "top_k=50 is out of range" in streamed.value.details()


def test_a_token_without_a_tenant_is_permission_denied(serve_generation, tokens):
    stub = serve_generation()

    with pytest.raises(grpc.RpcError) as raised:
        stub.Answer(generation_pb2.AnswerRequest(question="Anything?"), metadata=bearer(tokens, tenant=""))

    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "no tenant claim" in raised.value.details()


def test_an_unavailable_dependency_is_unavailable_and_a_broken_one_internal(serve_generation, tokens):
    class DownIndex(Index):
        def search(self, query_vector, top_k):
            raise DependencyError("retrieval", "UNAVAILABLE: connection refused", "unavailable")

    question = generation_pb2.AnswerRequest(question="How often must passwords be changed?")

    with pytest.raises(grpc.RpcError) as down:
        serve_generation(index=DownIndex(HITS)).Answer(question, metadata=bearer(tokens))
    with pytest.raises(grpc.RpcError) as broken:
        serve_generation(answerer=FailingAnswerer([])).Answer(question, metadata=bearer(tokens))

    assert down.value.code() == grpc.StatusCode.UNAVAILABLE
    assert down.value.details() == "retrieval failed: UNAVAILABLE: connection refused"
    assert broken.value.code() == grpc.StatusCode.INTERNAL
    assert "HTTP 401" in broken.value.details()
