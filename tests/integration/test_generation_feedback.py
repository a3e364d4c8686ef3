"""Answer, then Feedback, over real gRPC with real tokens, Redis and Kafka."""

from __future__ import annotations

import re
import time
import uuid
from concurrent import futures

import grpc
import pytest
from confluent_kafka import Consumer, TopicPartition

from ragline.auditing import AuditTrail
from ragline.auth import TokenMinter, TokenSettings, TokenVerifier, init_keys
from ragline.cli.launcher import end_offsets
from ragline.config import kafka_client_settings
from ragline.kafka import AUDIT, FEEDBACK, EventProducer
from ragline.rpc import AuthInterceptor
from ragline.v1 import audit_pb2, generation_pb2, generation_pb2_grpc, guardrail_pb2
from services.generation.answer_policy import AnswerPolicies, AnswerPolicy
from services.generation.extractive import ExtractiveAnswerer
from services.generation.feedback import AnswerBook, FeedbackDesk, read_satisfaction
from services.generation.orchestrator import AnswerOrchestrator
from services.generation.prompt_registry import FixedPrompt
from services.generation.prompts import load_prompt
from services.generation.redis_connection import connect_redis
from services.generation.server import GenerationServicer
from test_generation_redis_stores import SALARY_BANDS, AccessAwareIndex

pytestmark = pytest.mark.integration

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class RedactingGuardrail:
    def screen_input(self, tenant, text):
        return guardrail_pb2.ScreenInputResponse(allowed=True, text=EMAIL.sub("[EMAIL]", text))

    def screen_output(self, tenant, text, context):
        return guardrail_pb2.ScreenOutputResponse(allowed=True, text=text)


def read_new(since: list[TopicPartition], message_type, wanted, timeout: float = 20.0) -> list:
    consumer = Consumer({**kafka_client_settings(), "group.id": f"t-{uuid.uuid4().hex}", "enable.auto.commit": False})
    consumer.assign(since)
    found = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            event = message_type.FromString(message.value())
            if wanted(event):
                found.append(event)
                break
    consumer.close()
    return found


@pytest.fixture
def generation(tmp_path):
    settings = TokenSettings(
        issuer="https://ragline.test", audience="ragline", jwks_path=tmp_path / "jwks.json",
        signing_key_path=tmp_path / "signing-key.pem", max_lifetime_s=900, leeway_s=5,
    )
    init_keys(settings)
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    client = connect_redis()
    producer = EventProducer("generation-test")
    audit = AuditTrail(producer, "generation")
    answers = AnswerBook(client, window_s=600)
    index = AccessAwareIndex({"": [SALARY_BANDS]})
    guardrail = RedactingGuardrail()
    orchestrator = AnswerOrchestrator(
        guardrail, index, index, ExtractiveAnswerer(), audit, FixedPrompt(load_prompt("answer@v2")),
        AnswerPolicies(AnswerPolicy()), answers=answers,
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=[AuthInterceptor(TokenVerifier(settings))])
    servicer = GenerationServicer(orchestrator, FeedbackDesk(answers, guardrail, producer, audit))
    generation_pb2_grpc.add_GenerationServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    stub = generation_pb2_grpc.GenerationServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    minter = TokenMinter(settings)

    def as_user(user: str) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {minter.mint(user, tenant, ('staff',), 'internal')}")]

    yield stub, as_user, tenant, client
    server.stop(None)
    producer.flush()
    client.close()


def test_feedback_on_an_answer_goes_to_kafka_and_the_audit_log_and_counts_for_its_prompt_version(generation):
    stub, as_user, tenant, client = generation
    feedback_since, audit_since = end_offsets(FEEDBACK), end_offsets(AUDIT)
    answer = stub.Answer(generation_pb2.AnswerRequest(question="When are salary bands reviewed?"), metadata=as_user("alice"))

    request = generation_pb2.FeedbackRequest(
        answer_id=answer.answer_id, rating=generation_pb2.RATING_HELPFUL, comment="Spot on, thanks! alice@acme.example"
    )
    feedback_id = stub.Feedback(request, metadata=as_user("alice")).feedback_id

    [event] = read_new(feedback_since, generation_pb2.FeedbackEvent, lambda e: e.feedback_id == feedback_id)
    assert (event.answer_id, event.principal, event.rating) == (answer.answer_id, "alice", generation_pb2.RATING_HELPFUL)
    assert (event.prompt_version, event.model) == ("answer@v2", "extractive")
    assert event.comment == "Spot on, thanks! [EMAIL]"
    assert event.header.tenant == tenant and event.answered_at.seconds > 0
    [record] = read_new(audit_since, audit_pb2.AuditEvent,
                        lambda e: e.action == "feedback" and e.details.get("feedback_id") == feedback_id)
    assert (record.principal, record.outcome, record.details["rating"]) == ("alice", "ok", "helpful")
    assert record.details["prompt_version"] == "answer@v2" and "acme.example" not in str(record)
    satisfaction = read_satisfaction(client, tenant)["answer@v2"]
    assert (satisfaction.helpful, satisfaction.not_helpful) == (1, 0)


def test_rating_again_replaces_the_callers_rating_in_the_counts(generation):
    stub, as_user, tenant, client = generation
    answer = stub.Answer(generation_pb2.AnswerRequest(question="When are salary bands reviewed?"), metadata=as_user("alice"))

    for rating in (generation_pb2.RATING_HELPFUL, generation_pb2.RATING_NOT_HELPFUL, generation_pb2.RATING_NOT_HELPFUL):
        stub.Feedback(generation_pb2.FeedbackRequest(answer_id=answer.answer_id, rating=rating), metadata=as_user("alice"))

    satisfaction = read_satisfaction(client, tenant)["answer@v2"]
    assert (satisfaction.helpful, satisfaction.not_helpful, satisfaction.share_helpful) == (0, 1, 0.0)


def test_only_the_caller_who_got_the_answer_may_rate_it(generation):
    stub, as_user, tenant, client = generation
    answer = stub.Answer(generation_pb2.AnswerRequest(question="When are salary bands reviewed?"), metadata=as_user("alice"))

    for user, answer_id in (("mallory", answer.answer_id), ("alice", uuid.uuid4().hex)):
        with pytest.raises(grpc.RpcError) as raised:
            stub.Feedback(generation_pb2.FeedbackRequest(answer_id=answer_id, rating=generation_pb2.RATING_NOT_HELPFUL),
                          metadata=as_user(user))
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert "was given to you in the last" in raised.value.details()
    assert read_satisfaction(client, tenant) == {}


@pytest.mark.parametrize(
    ("request_fields", "message"),
    [
        ({"answer_id": "42", "rating": generation_pb2.RATING_HELPFUL}, "is not an answer id"),
        ({"answer_id": "a" * 32}, "rating is missing"),
        ({"answer_id": "a" * 32, "rating": generation_pb2.RATING_HELPFUL, "comment": "x" * 2001}, "2001 characters"),
    ],
)
def test_malformed_feedback_is_invalid_argument(generation, request_fields, message):
    stub, as_user, _, _ = generation

    with pytest.raises(grpc.RpcError) as raised:
        stub.Feedback(generation_pb2.FeedbackRequest(**request_fields), metadata=as_user("alice"))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in raised.value.details()
