"""Which answerer may read a question's passages: model endpoints are cleared up to a sensitivity.

The highest sensitivity among the passages decides. Each level has its own
ModelRouter holding only the endpoints cleared for it, so neither the routing
order, nor a retry, nor a fallback after a failure or an open circuit can
reach an endpoint that may not receive the context. A level that no endpoint
is cleared for is answered extractively: nothing leaves the service, and the
caller still gets an answer from every passage they may read (docs/adr/0012).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Callable, Generator, Mapping, Sequence

from opentelemetry import trace

from ragline.auth import CLEARANCES
from ragline.v1 import retrieval_pb2
from services.generation import extractive
from services.generation.answerer import Answerer, Draft
from services.generation.chat_model import ChatModelAnswerer
from services.generation.circuit_breaker import CircuitBreaker
from services.generation.model_endpoints import ModelEndpoint
from services.generation.model_router import ModelRouter, routed_endpoints
from services.generation.prompts import PromptTemplate
from services.generation.retry import RetryPolicy

log = logging.getLogger(__name__)

LABELS = {value: name for name, value in CLEARANCES.items()}
_HIGHEST = max(LABELS)


def passage_sensitivity(passages: Sequence[retrieval_pb2.SearchHit]) -> int:
    """The highest sensitivity among the passages. A passage without a known
    label counts as the highest: retrieval never returns one, and if it did,
    it must not reach a model on a guess."""
    return max(
        (p.provenance.sensitivity if p.provenance.sensitivity in LABELS else _HIGHEST for p in passages),
        default=min(LABELS),
    )


def sensitivity_label(sensitivity: int) -> str:
    return LABELS.get(sensitivity, "unlabelled")


@dataclass(frozen=True)
class Route:
    """Who answers passages of one sensitivity."""

    sensitivity: int
    answerer: Answerer
    # The endpoints cleared for it, in routing order; none means an extractive answer.
    endpoints: tuple[str, ...]


class SensitivityRouting:
    """An Answerer that hands each question to the route of its passages' sensitivity."""

    def __init__(self, routes: Mapping[int, Route]):
        self._routes = dict(routes)

    @classmethod
    def connect(
        cls,
        endpoints: Sequence[ModelEndpoint],
        retry: RetryPolicy,
        deadline_s: float,
        breaker: Callable[[], CircuitBreaker],
        canary: str = "",
    ) -> "SensitivityRouting":
        # One client and breaker per endpoint, shared by every level it serves:
        # an endpoint's health does not depend on the content sent to it.
        routed = routed_endpoints(endpoints, breaker)
        routes = {}
        for level, label in LABELS.items():
            cleared = [r for r in routed if r.endpoint.max_sensitivity >= level]
            if cleared:
                answerer: Answerer = ChatModelAnswerer(ModelRouter(cleared, retry, deadline_s), canary)
            else:
                answerer = AnsweredWithoutModel(label)
            routes[level] = Route(level, answerer, tuple(r.endpoint.name for r in cleared))
        return cls(routes)

    def route(self, passages: Sequence[retrieval_pb2.SearchHit]) -> Route:
        route = self._routes[passage_sensitivity(passages)]
        trace.get_current_span().add_event(
            "ragline.model.routing",
            {
                "ragline.passages.max_sensitivity": sensitivity_label(route.sensitivity),
                "ragline.model.cleared_endpoints": list(route.endpoints),
            },
        )
        if not route.endpoints:
            log.info(
                "no model endpoint is cleared for the passages: answering extractively",
                extra={"fields": {"max_sensitivity": sensitivity_label(route.sensitivity)}},
            )
        return route

    def answer(
        self, question: str, passages: Sequence[retrieval_pb2.SearchHit], prompt: PromptTemplate, max_tokens: int
    ) -> Draft:
        return self.route(passages).answerer.answer(question, passages, prompt, max_tokens)

    def stream(
        self, question: str, passages: Sequence[retrieval_pb2.SearchHit], prompt: PromptTemplate, max_tokens: int
    ) -> Generator[str, None, Draft]:
        return self.route(passages).answerer.stream(question, passages, prompt, max_tokens)


class AnsweredWithoutModel:
    """Extractive answers for passages no endpoint may receive, labelled with why no model wrote them."""

    def __init__(self, sensitivity: str):
        self._extractive = extractive.ExtractiveAnswerer()
        self._label = f"Extractive answer (no model endpoint may receive {sensitivity} passages):"

    def answer(
        self, question: str, passages: Sequence[retrieval_pb2.SearchHit], prompt: PromptTemplate, max_tokens: int
    ) -> Draft:
        draft = self._extractive.answer(question, passages, prompt, max_tokens)
        if draft.refused:
            return draft
        return dataclasses.replace(draft, text=self._label + draft.text.removeprefix(extractive.LABEL))

    def stream(
        self, question: str, passages: Sequence[retrieval_pb2.SearchHit], prompt: PromptTemplate, max_tokens: int
    ) -> Generator[str, None, Draft]:
        # Quoting is immediate: the whole answer is one piece.
        draft = self.answer(question, passages, prompt, max_tokens)
        if draft.text:
            yield draft.text
        return draft
