"""Answers with a chat model behind any OpenAI-compatible endpoint (OpenAI, Azure, vLLM, TGI, Ollama...)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generator, Iterator, Sequence
from urllib.parse import urlsplit

import openai
from openai.types import CompletionUsage
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ragline.config import ConfigError, env_float
from ragline.v1 import retrieval_pb2
from services.generation.answerer import Draft
from services.generation.citations import cited_numbers
from services.generation.errors import DependencyError
from services.generation.prompts import PromptTemplate

tracer = trace.get_tracer("ragline.generation")

# Worth retrying: the endpoint is overloaded, restarting or briefly unreachable.
_RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class ModelSettings:
    base_url: str
    api_key: str
    model: str
    timeout_s: float

    @classmethod
    def from_env(cls) -> "ModelSettings | None":
        """The model endpoint, or None when none is configured (then answers are extractive).

        RAGLINE_MODEL_* win; the standard OPENAI_BASE_URL / OPENAI_API_KEY are
        the fallback, so an environment already set up for the openai client works.
        """
        base_url = _first_set("RAGLINE_MODEL_BASE_URL", "OPENAI_BASE_URL")
        api_key = _first_set("RAGLINE_MODEL_API_KEY", "OPENAI_API_KEY")
        if not base_url and not api_key:
            return None
        model = os.environ.get("RAGLINE_MODEL_NAME", "").strip()
        if not model:
            raise ConfigError("RAGLINE_MODEL_NAME is required when a model endpoint or API key is configured")
        return cls(
            base_url=base_url or "https://api.openai.com/v1",
            # Self-hosted endpoints often need no key, but the client insists on one.
            api_key=api_key or "unused",
            model=model,
            timeout_s=env_float("RAGLINE_MODEL_TIMEOUT_S", 60.0, minimum=0.1),
        )


def _first_set(*names: str) -> str:
    return next((value for value in (os.environ.get(name, "").strip() for name in names) if value), "")


class ChatModelAnswerer:
    def __init__(self, client: openai.OpenAI, model: str, prompt: PromptTemplate):
        self._client = client
        self._model = model
        self._prompt = prompt
        self._server = urlsplit(str(client.base_url))

    @classmethod
    def from_settings(cls, settings: ModelSettings, prompt: PromptTemplate) -> "ChatModelAnswerer":
        client = openai.OpenAI(base_url=settings.base_url, api_key=settings.api_key, timeout=settings.timeout_s)
        return cls(client, settings.model, prompt)

    def answer(self, question: str, passages: Sequence[retrieval_pb2.SearchHit]) -> Draft:
        with self._chat_span() as span:
            completion = self._client.chat.completions.create(
                model=self._model, messages=self._prompt.messages(question, passages)
            )
            text = (completion.choices[0].message.content or "") if completion.choices else ""
            response_model = completion.model or self._model
            _record_response(span, response_model, completion.usage)
        return self._draft(text, passages, response_model, completion.usage)

    def stream(self, question: str, passages: Sequence[retrieval_pb2.SearchHit]) -> Generator[str, None, Draft]:
        parts: list[str] = []
        usage: CompletionUsage | None = None
        response_model = self._model
        with self._chat_span() as span:
            chunks = self._client.chat.completions.create(
                model=self._model,
                messages=self._prompt.messages(question, passages),
                stream=True,
                stream_options={"include_usage": True},
            )
            # Leaving this block, also by the consumer closing this generator,
            # closes the HTTP response: the endpoint stops generating.
            with chunks:
                for chunk in chunks:
                    response_model = chunk.model or response_model
                    usage = chunk.usage or usage
                    for choice in chunk.choices:
                        if choice.index == 0 and choice.delta.content:
                            parts.append(choice.delta.content)
                            yield choice.delta.content
            _record_response(span, response_model, usage)
        return self._draft("".join(parts), passages, response_model, usage)

    def _draft(
        self, text: str, passages: Sequence[retrieval_pb2.SearchHit], model: str, usage: CompletionUsage | None
    ) -> Draft:
        return Draft(
            text=text,
            model=model,
            citations=cited_numbers(text, len(passages)),
            prompt_version=self._prompt.ref,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )

    @contextmanager
    def _chat_span(self) -> Iterator[trace.Span]:
        """A GenAI client span for one model call, and its failures as DependencyError.

        The span is not made current: in streaming it stays open across
        yields, where the caller's context must not change.
        """
        span = tracer.start_span(
            f"chat {self._model}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "openai",
                "gen_ai.request.model": self._model,
                "server.address": self._server.hostname or "",
                "server.port": self._server.port or (443 if self._server.scheme == "https" else 80),
            },
        )
        try:
            yield span
        except openai.OpenAIError as error:
            span.set_attribute("error.type", type(error).__name__)
            span.set_status(Status(StatusCode.ERROR, str(error)))
            raise _dependency_error(error) from error
        except GeneratorExit:
            span.set_attribute("ragline.generation.stopped_early", True)
            raise
        finally:
            span.end()


def _record_response(span: trace.Span, model: str, usage: CompletionUsage | None) -> None:
    span.set_attribute("gen_ai.response.model", model)
    if usage is not None:
        span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)


def _dependency_error(error: openai.OpenAIError) -> DependencyError:
    if isinstance(error, openai.APIStatusError):
        failure = "unavailable" if error.status_code in _RETRYABLE_STATUS else "failed"
        reason = f"the model endpoint answered HTTP {error.status_code}: {error.message}"
        return DependencyError("model", reason, failure)
    if isinstance(error, openai.APIConnectionError):
        return DependencyError("model", f"the model endpoint cannot be reached: {error.message}", "unavailable")
    return DependencyError("model", f"the model endpoint failed: {error}", "failed")
