"""Chat completions across several endpoints: routing order, retries, circuit breakers, fallback.

For each endpoint in order whose circuit lets the call through:
- 429, 408, 409, 5xx and connection errors are retried on the same endpoint
  after Retry-After (when the endpoint sends one) or an exponential backoff;
  a wait longer than allowed, or past the answer's deadline, moves on to the
  next endpoint instead;
- a timeout moves on to the next endpoint at once: waiting the same timeout
  again on an endpoint that just missed it only doubles the latency;
- any other 4xx fails the answer: the request or the configuration is wrong,
  and another endpoint would only hide that.
A stream is retried or moved only before its first token: after that the
caller has text, and a second model would not continue it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Generator, Sequence

import openai
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.generation.circuit_breaker import CircuitBreaker
from services.generation.errors import DependencyError
from services.generation.model_endpoints import ModelEndpoint
from services.generation.retry import RetryPolicy, retry_after_s

log = logging.getLogger(__name__)
tracer = trace.get_tracer("ragline.generation")

# Worth retrying: the endpoint is overloaded, restarting or briefly unreachable.
_RETRYABLE_STATUS = {408, 409, 429}

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Completion:
    """One model call that answered."""

    text: str
    endpoint: str
    # The model the endpoint says answered (it may name a dated snapshot).
    model: str
    prompt_tokens: int
    completion_tokens: int
    # "stop", or "length" when the answer was cut by the token limit.
    finish_reason: str


@dataclass
class RoutedEndpoint:
    endpoint: ModelEndpoint
    client: openai.OpenAI
    breaker: CircuitBreaker


class _StopEndpoint(Exception):
    """This endpoint will not answer this call: try the next one."""


class ModelRouter:
    def __init__(self, endpoints: Sequence[RoutedEndpoint], retry: RetryPolicy, deadline_s: float):
        if not endpoints:
            raise ValueError("a model router needs at least one endpoint")
        self._endpoints = list(endpoints)
        self._retry = retry
        self._deadline_s = deadline_s

    def complete(self, messages: Messages, max_tokens: int) -> Completion:
        route = self._route(messages, max_tokens, streaming=False)
        try:
            while True:
                next(route)
        except StopIteration as end:
            return end.value

    def stream(self, messages: Messages, max_tokens: int) -> Generator[str, None, Completion]:
        """Yields text as it arrives and returns the completion. Closing the
        generator closes the HTTP response: the endpoint stops generating."""
        return self._route(messages, max_tokens, streaming=True)

    def _route(self, messages: Messages, max_tokens: int, streaming: bool) -> Generator[str, None, Completion]:
        deadline = time.monotonic() + self._deadline_s
        failures: list[str] = []
        for routed in self._endpoints:
            name = routed.endpoint.name
            if not routed.breaker.allow():
                failures.append(f"{name}: circuit open, next probe in {routed.breaker.retry_in():.1f}s")
                trace.get_current_span().add_event("ragline.model.endpoint_skipped", {"ragline.model.endpoint": name})
                continue
            try:
                return (yield from self._attempts(routed, messages, max_tokens, streaming, deadline))
            except _StopEndpoint as stop:
                failures.append(f"{name}: {stop}")
                log.warning("model endpoint failed, trying the next", extra={"fields": {"endpoint": name, "reason": str(stop)}})
        raise DependencyError("model", "no model endpoint answered: " + "; ".join(failures), "unavailable")

    def _attempts(
        self, routed: RoutedEndpoint, messages: Messages, max_tokens: int, streaming: bool, deadline: float
    ) -> Generator[str, None, Completion]:
        """Calls one endpoint until it answers; raises _StopEndpoint to move on."""
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                routed.breaker.release()
                raise _StopEndpoint("the answer's deadline has passed")
            call = _call(routed, messages, max_tokens, streaming, attempt, min(routed.endpoint.timeout_s, remaining))
            delivered = False
            try:
                while True:
                    delta = next(call)
                    if not delivered:
                        # Text is flowing: the endpoint is healthy whatever happens next.
                        routed.breaker.record_success()
                        delivered = True
                    yield delta
            except StopIteration as end:
                routed.breaker.record_success()
                return end.value
            except GeneratorExit:
                if not delivered:
                    routed.breaker.release()
                raise
            except openai.APITimeoutError as error:
                routed.breaker.record_failure()
                if delivered:
                    raise _broken_stream(routed, error) from error
                raise _StopEndpoint(f"no answer within {routed.endpoint.timeout_s:g}s") from error
            except (openai.APIStatusError, openai.APIConnectionError) as error:
                if isinstance(error, openai.APIStatusError) and not _retryable(error.status_code):
                    routed.breaker.release()
                    raise _fatal(routed, error) from error
                routed.breaker.record_failure()
                if delivered:
                    raise _broken_stream(routed, error) from error
                wait = self._retry.delay(attempt, _retry_after(error))
                reason = _describe(error)
                if wait is None:
                    raise _StopEndpoint(f"{reason} (attempt {attempt})") from error
                if time.monotonic() + wait >= deadline:
                    raise _StopEndpoint(f"{reason}; waiting {wait:.1f}s more would pass the deadline") from error
                if not routed.breaker.allow():
                    raise _StopEndpoint(f"{reason}; the circuit opened") from error
                trace.get_current_span().add_event(
                    "ragline.model.retry", {"ragline.model.endpoint": routed.endpoint.name, "ragline.model.wait_s": wait}
                )
                time.sleep(wait)
            finally:
                call.close()


def routed_endpoints(endpoints: Sequence[ModelEndpoint], breaker: Callable[[], CircuitBreaker]) -> list[RoutedEndpoint]:
    """One client and one circuit breaker per endpoint, to share between routers."""
    return [
        # The client's own retries are off: the router retries, so that every
        # attempt counts on the circuit breaker and a long wait can go elsewhere.
        RoutedEndpoint(endpoint, openai.OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=0), breaker())
        for endpoint in endpoints
    ]


def _call(
    routed: RoutedEndpoint, messages: Messages, max_tokens: int, streaming: bool, attempt: int, timeout_s: float
) -> Generator[str, None, Completion]:
    """One HTTP call, as a GenAI client span."""
    endpoint = routed.endpoint
    address, port = endpoint.server
    # Not made current: in streaming it stays open across yields, where the caller's context must not change.
    span = tracer.start_span(
        f"chat {endpoint.model}",
        kind=SpanKind.CLIENT,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": endpoint.model,
            "server.address": address,
            "server.port": port,
            "ragline.model.endpoint": endpoint.name,
            "ragline.model.attempt": attempt,
        },
    )
    options: dict = {"model": endpoint.model, "messages": messages, "timeout": timeout_s}
    if max_tokens > 0:
        span.set_attribute("gen_ai.request.max_tokens", max_tokens)
        options["max_tokens"] = max_tokens
    try:
        if streaming:
            completion = yield from _streamed(routed, options)
        else:
            response = routed.client.chat.completions.create(**options)
            choice = response.choices[0] if response.choices else None
            usage = response.usage
            completion = Completion(
                text=(choice.message.content or "") if choice else "",
                endpoint=endpoint.name,
                model=response.model or endpoint.model,
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                finish_reason=(choice.finish_reason or "") if choice else "",
            )
        span.set_attribute("gen_ai.response.model", completion.model)
        span.set_attribute("gen_ai.response.finish_reasons", [completion.finish_reason])
        span.set_attribute("gen_ai.usage.input_tokens", completion.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", completion.completion_tokens)
        return completion
    except openai.OpenAIError as error:
        status = getattr(error, "status_code", None)
        span.set_attribute("error.type", str(status) if status else type(error).__name__)
        span.set_status(Status(StatusCode.ERROR, str(error)))
        raise
    except GeneratorExit:
        span.set_attribute("ragline.generation.stopped_early", True)
        raise
    finally:
        span.end()


def _streamed(routed: RoutedEndpoint, options: dict) -> Generator[str, None, Completion]:
    parts: list[str] = []
    model = routed.endpoint.model
    prompt_tokens = completion_tokens = 0
    finish_reason = ""
    chunks = routed.client.chat.completions.create(**options, stream=True, stream_options={"include_usage": True})
    # Leaving this block, also by the consumer closing the generator, closes the
    # HTTP response: the endpoint stops generating.
    with chunks:
        for chunk in chunks:
            model = chunk.model or model
            if chunk.usage:
                prompt_tokens, completion_tokens = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
            for choice in chunk.choices:
                if choice.index != 0:
                    continue
                finish_reason = choice.finish_reason or finish_reason
                if choice.delta.content:
                    parts.append(choice.delta.content)
                    yield choice.delta.content
    return Completion("".join(parts), routed.endpoint.name, model, prompt_tokens, completion_tokens, finish_reason)


def _retryable(status: int) -> bool:
    return status in _RETRYABLE_STATUS or status >= 500


def _retry_after(error: openai.OpenAIError) -> float | None:
    response = getattr(error, "response", None)
    return retry_after_s(response.headers) if response is not None else None


def _describe(error: openai.OpenAIError) -> str:
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}: {error.message}"
    return f"cannot be reached: {error}"


def _fatal(routed: RoutedEndpoint, error: openai.APIStatusError) -> DependencyError:
    reason = f"endpoint {routed.endpoint.name} answered HTTP {error.status_code}: {error.message}"
    return DependencyError("model", reason, "failed")


def _broken_stream(routed: RoutedEndpoint, error: openai.OpenAIError) -> DependencyError:
    reason = f"endpoint {routed.endpoint.name} broke off the answer: {_describe(error)}"
    return DependencyError("model", reason, "unavailable")
