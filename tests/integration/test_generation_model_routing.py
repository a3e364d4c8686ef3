"""Retries, Retry-After, timeouts, fallback and the circuit breaker, against loopback
chat-completions servers (real HTTP through the openai client)."""

from __future__ import annotations

import time

import pytest

from services.generation.circuit_breaker import CircuitBreaker
from services.generation.errors import DependencyError
from services.generation.retry import RetryPolicy
from test_openai_model_path import (
    ANSWER_PIECES,
    MODEL,
    PASSAGES,
    PROMPT,
    QUESTION,
    ChatCompletionsServer,
    Reply,
    drain,
    router_for,
    spans,  # noqa: F401 - the fixture: spans of whichever SDK provider is global
)

MESSAGES = PROMPT.messages(QUESTION, PASSAGES)
ANSWER = "".join(ANSWER_PIECES)


def chat_spans(exporter):
    return [span for span in exporter.get_finished_spans() if span.name == f"chat {MODEL}"]


def test_a_429_is_retried_after_the_wait_its_retry_after_asks_for(spans):
    script = [Reply(429, {"Retry-After": "1"})]
    with ChatCompletionsServer(ANSWER_PIECES, script=script) as server:
        completion = router_for(server).complete(MESSAGES, 300)

    assert completion.text == ANSWER
    assert len(server.requests) == 2
    assert server.received_at[1] - server.received_at[0] >= 0.95
    failed, answered = chat_spans(spans)[-2:]
    assert failed.attributes["error.type"] == "429" and failed.attributes["ragline.model.attempt"] == 1
    assert answered.attributes["ragline.model.attempt"] == 2
    assert (answered.attributes["gen_ai.usage.input_tokens"], answered.attributes["gen_ai.usage.output_tokens"]) == (321, 17)


def test_a_500_is_retried_with_backoff_and_the_second_answer_counts():
    with ChatCompletionsServer(ANSWER_PIECES, script=[Reply(500)]) as server:
        completion = router_for(server, retry=RetryPolicy(max_attempts=3, backoff_s=0.2)).complete(MESSAGES, 300)

    assert (completion.text, completion.prompt_tokens, completion.completion_tokens) == (ANSWER, 321, 17)
    assert len(server.requests) == 2
    # Backoff 0.2 s less at most 25 % jitter.
    assert server.received_at[1] - server.received_at[0] >= 0.15


def test_a_streamed_answer_is_retried_when_the_endpoint_fails_before_the_first_token():
    with ChatCompletionsServer(ANSWER_PIECES, script=[Reply(503)]) as server:
        pieces, completion = drain(router_for(server).stream(MESSAGES, 300))

    assert pieces == ANSWER_PIECES and completion.text == ANSWER
    assert (completion.prompt_tokens, completion.completion_tokens) == (321, 17)
    assert [request["stream"] for request in server.requests] == [True, True]


def test_a_timeout_falls_back_to_the_next_endpoint_at_once():
    slow = ChatCompletionsServer(ANSWER_PIECES, script=[Reply(200, delay_s=2.0)])
    with slow, ChatCompletionsServer(["Fallback answer [1]."]) as fallback:
        started = time.monotonic()
        completion = router_for(slow, fallback, timeout_s=0.5).complete(MESSAGES, 300)
        elapsed = time.monotonic() - started

    assert (completion.endpoint, completion.text) == ("endpoint-2", "Fallback answer [1].")
    # One timed-out attempt on the slow endpoint, not three.
    assert len(slow.requests) == 1 and len(fallback.requests) == 1
    assert elapsed < 1.5


def test_a_retry_after_longer_than_allowed_goes_to_the_next_endpoint_instead_of_waiting():
    busy = ChatCompletionsServer(ANSWER_PIECES, script=[Reply(429, {"Retry-After": "120"})])
    with busy, ChatCompletionsServer(["Fallback answer [1]."]) as fallback:
        started = time.monotonic()
        completion = router_for(busy, fallback, retry=RetryPolicy(retry_after_max_s=5)).complete(MESSAGES, 300)

    assert completion.endpoint == "endpoint-2"
    assert time.monotonic() - started < 2
    assert len(busy.requests) == 1


def test_the_circuit_opens_skips_the_endpoint_then_probes_it_half_open():
    breakers: list[CircuitBreaker] = []

    def breaker() -> CircuitBreaker:
        breakers.append(CircuitBreaker(failure_threshold=2, open_s=1.0))
        return breakers[-1]

    failing = ChatCompletionsServer(ANSWER_PIECES, status=503)
    with failing, ChatCompletionsServer(["Fallback answer [1]."]) as fallback:
        router = router_for(failing, fallback, retry=RetryPolicy(max_attempts=1), breaker=breaker)
        primary = breakers[0]

        assert router.complete(MESSAGES, 300).endpoint == "endpoint-2"
        assert primary.state == "closed"
        assert router.complete(MESSAGES, 300).endpoint == "endpoint-2"
        assert primary.state == "open"

        # Open: the failing endpoint is not called at all.
        for _ in range(3):
            assert router.complete(MESSAGES, 300).endpoint == "endpoint-2"
        assert len(failing.requests) == 2

        # Half-open after 1 s: one probe. It fails, so the circuit opens again.
        time.sleep(1.05)
        assert primary.state == "half-open"
        assert router.complete(MESSAGES, 300).endpoint == "endpoint-2"
        assert len(failing.requests) == 3 and primary.state == "open"

        # The endpoint recovers: the next probe succeeds and closes the circuit.
        failing.status = 200
        time.sleep(1.05)
        assert router.complete(MESSAGES, 300).endpoint == "endpoint-1"
        assert primary.state == "closed"
        assert router.complete(MESSAGES, 300).endpoint == "endpoint-1"
    assert len(failing.requests) == 5


def test_when_every_endpoint_fails_the_error_names_each_and_says_retry_later():
    first = ChatCompletionsServer(ANSWER_PIECES, status=503)
    with first, ChatCompletionsServer(ANSWER_PIECES, status=502) as second:
        with pytest.raises(DependencyError) as raised:
            router_for(first, second, retry=RetryPolicy(max_attempts=2, backoff_s=0.01)).complete(MESSAGES, 300)

    assert (raised.value.dependency, raised.value.failure) == ("model", "unavailable")
    assert "endpoint-1: HTTP 503" in raised.value.reason and "endpoint-2: HTTP 502" in raised.value.reason
    assert (len(first.requests), len(second.requests)) == (2, 2)


def test_a_client_error_fails_at_once_without_trying_other_endpoints():
    rejecting = ChatCompletionsServer(ANSWER_PIECES, status=401)
    with rejecting, ChatCompletionsServer(ANSWER_PIECES) as other:
        with pytest.raises(DependencyError) as raised:
            router_for(rejecting, other).complete(MESSAGES, 300)

    assert raised.value.failure == "failed"
    assert "endpoint endpoint-1 answered HTTP 401" in raised.value.reason
    assert (len(rejecting.requests), len(other.requests)) == (1, 0)


def test_the_answers_deadline_bounds_retries():
    with ChatCompletionsServer(ANSWER_PIECES, status=503) as server:
        started = time.monotonic()
        with pytest.raises(DependencyError, match="deadline"):
            router_for(server, retry=RetryPolicy(max_attempts=10, backoff_s=0.4), deadline_s=0.5).complete(MESSAGES, 300)

    assert time.monotonic() - started < 1.5
