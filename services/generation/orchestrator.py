"""One question, from the caller's principal to a screened, cited, audited answer.

pick the prompt version → screen the question → answer cache → embed it →
search what the caller may read → draft an answer → cap its length → screen
the answer → cite → charge, cache, remember, audit. The collaborators are
small interfaces, so the flow runs the same against the gRPC clients and
against plain Python implementations in tests.
"""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Protocol, Sequence

from opentelemetry import trace

from ragline.auth import Principal
from ragline.telemetry import current_trace_id
from ragline.v1 import embedding_pb2, generation_pb2, guardrail_pb2, retrieval_pb2
from services.generation.answer_cache import AnswerCache, CachedAnswer
from services.generation.answer_policy import AnswerPolicies, AnswerPolicy
from services.generation.answerer import NO_PASSAGE, Answerer, Draft
from services.generation.citations import build_citations, cited_numbers
from services.generation.cost_ledger import Charge, CostLedger
from services.generation.errors import DependencyError, InvalidRequest
from services.generation.feedback import AnswerBook
from services.generation.prompts import PromptTemplate
from services.generation.sensitivity_routing import passage_sensitivity, sensitivity_label
from services.generation.sentences import SentenceBuffer, cut_to_sentences, without_unfinished_sentence

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 4000
DEFAULT_TOP_K = 5
MAX_TOP_K = 20


class Guardrail(Protocol):
    def screen_input(self, tenant: str, text: str) -> guardrail_pb2.ScreenInputResponse: ...

    def screen_output(self, tenant: str, text: str, context: Sequence[str]) -> guardrail_pb2.ScreenOutputResponse: ...


class QueryEmbedder(Protocol):
    def embed(self, text: str) -> embedding_pb2.EmbedResponse: ...


class PassageSearch(Protocol):
    def search(self, query_vector: Sequence[float], top_k: int) -> retrieval_pb2.SearchResponse: ...


class PromptSelector(Protocol):
    def select(self, principal: Principal) -> PromptTemplate: ...


class AuditRecorder(Protocol):
    def record(
        self,
        action: str,
        tenant: str,
        principal: str,
        outcome: str,
        *,
        document_ids: Sequence[str] = (),
        chunk_ids: Sequence[str] = (),
        details: Mapping[str, str] | None = None,
    ) -> None: ...


def validate(question: str, top_k: int) -> int:
    """The number of passages to retrieve; raises InvalidRequest."""
    if not question.strip():
        raise InvalidRequest(f"question is empty: ask a question of 1 to {MAX_QUESTION_CHARS} characters")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidRequest(f"question has {len(question)} characters; at most {MAX_QUESTION_CHARS} are accepted")
    if not 0 <= top_k <= MAX_TOP_K:
        raise InvalidRequest(f"top_k={top_k} is out of range: use 1 to {MAX_TOP_K}, or 0 for {DEFAULT_TOP_K}")
    return top_k or DEFAULT_TOP_K


@dataclass
class _Question:
    """What one request has done so far: the audit record is made from it."""

    principal: Principal
    text: str
    top_k: int
    prompt: PromptTemplate
    policy: AnswerPolicy
    answer_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    trace_id: str = field(default_factory=current_trace_id)
    # The request's span, so the audit record joins its trace whichever context finishes the request.
    span: trace.Span = field(default_factory=trace.get_current_span)
    started: float = field(default_factory=time.monotonic)
    query: str = ""
    passages: list[retrieval_pb2.SearchHit] = field(default_factory=list)
    verdicts: int = 0
    cache_key: str | None = None
    cache: str = "off"
    charge: Charge | None = None
    recorded: bool = False


@dataclass(frozen=True)
class _Outcome:
    """The end of a request: a draft, the text the caller gets, or why it was refused."""

    draft: Draft | None
    text: str = ""
    refusal: str = ""
    # Whether the same question in the same scope must get the same answer until the index changes.
    cacheable: bool = False


class AnswerOrchestrator:
    def __init__(
        self,
        guardrail: Guardrail,
        embedder: QueryEmbedder,
        search: PassageSearch,
        answerer: Answerer,
        audit: AuditRecorder,
        prompts: PromptSelector,
        policies: AnswerPolicies,
        cache: AnswerCache | None = None,
        costs: CostLedger | None = None,
        answers: AnswerBook | None = None,
        stream_segment_chars: int = 600,
    ):
        self._guardrail = guardrail
        self._embedder = embedder
        self._search = search
        self._answerer = answerer
        self._audit = audit
        self._prompts = prompts
        self._policies = policies
        self._cache = cache
        self._costs = costs
        self._answers = answers
        self._stream_segment_chars = stream_segment_chars

    def answer(self, principal: Principal, question: str, top_k: int) -> generation_pb2.AnswerResponse:
        request = self._start(principal, question, top_k)
        with self._audited_failure(request):
            refusal = self._screen_input(request)
            if refusal:
                return self._finish(request, _Outcome(None, refusal=refusal))
            cached = self._cached(request)
            if cached:
                return self._serve_cached(request, cached)
            if not self._retrieve(request):
                return self._finish(request, _Outcome(None, refusal=NO_PASSAGE, cacheable=True))
            draft = self._answerer.answer(
                request.query, request.passages, request.prompt, request.policy.max_answer_tokens
            )
            self._charge(request, draft)
            if draft.refused:
                return self._finish(request, _Outcome(draft, cacheable=True))
            text = without_unfinished_sentence(draft.text) if draft.truncated else draft.text
            text = cut_to_sentences(text, request.policy.max_answer_chars)
            screened = self._screen_output(request, text)
            if not screened.allowed:
                return self._finish(request, _Outcome(draft, refusal=_refusal("The answer was withheld", screened.verdicts)))
            return self._finish(request, _Outcome(draft, text=screened.text, cacheable=True))

    def stream(self, principal: Principal, question: str, top_k: int) -> Iterator[generation_pb2.AnswerStreamResponse]:
        """Deltas as the answer is written, then the final response.

        Text is released a sentence at a time, each screened before it is
        sent: nothing reaches the caller that the output guardrail has not seen.
        Closing this generator stops the answerer (and the model stream).
        """
        request = self._start(principal, question, top_k)
        with self._audited_failure(request):
            refusal = self._screen_input(request)
            if refusal:
                yield _final(self._finish(request, _Outcome(None, refusal=refusal)))
                return
            cached = self._cached(request)
            if cached:
                response = self._serve_cached(request, cached)
                buffer = SentenceBuffer(self._stream_segment_chars)
                for segment in (buffer.add(response.text), buffer.drain()):
                    if segment:
                        yield generation_pb2.AnswerStreamResponse(delta=segment)
                yield _final(response)
                return
            if not self._retrieve(request):
                yield _final(self._finish(request, _Outcome(None, refusal=NO_PASSAGE, cacheable=True)))
                return
            yield from self._stream_draft(request)

    def _stream_draft(self, request: _Question) -> Iterator[generation_pb2.AnswerStreamResponse]:
        deltas = self._answerer.stream(
            request.query, request.passages, request.prompt, request.policy.max_answer_tokens
        )
        buffer = SentenceBuffer(self._stream_segment_chars)
        room = request.policy.max_answer_chars
        sent: list[str] = []
        draft: Draft | None = None
        blocked = ""
        try:
            while draft is None:
                try:
                    segment = buffer.add(next(deltas))
                except StopIteration as end:
                    draft = end.value
                    self._charge(request, draft)
                    # Half a sentence left by the token limit is not sent.
                    segment = "" if draft.truncated else buffer.drain()
                if len(segment) > room:
                    # Past the length limit nothing more is sent. The model runs on
                    # to its token limit (bounded by the same policy), so that the
                    # usage, cost and model of the answer are known.
                    # Half a sentence only when nothing was sent yet: a cut must not leave the caller with nothing.
                    segment = cut_to_sentences(segment, room, mid_sentence=not sent)
                    room = 0
                else:
                    room -= len(segment)
                if segment.strip():
                    screened = self._screen_output(request, segment)
                    if not screened.allowed:
                        blocked = _refusal("The rest of the answer was withheld", screened.verdicts)
                        break
                    segment = screened.text
                if segment:
                    sent.append(segment)
                    yield generation_pb2.AnswerStreamResponse(delta=segment)
        finally:
            deltas.close()
        if draft is not None and draft.refused:
            outcome = _Outcome(draft, cacheable=True)
        else:
            outcome = _Outcome(draft, text="".join(sent), refusal=blocked, cacheable=not blocked)
        yield _final(self._finish(request, outcome))

    def _start(self, principal: Principal, question: str, top_k: int) -> _Question:
        top_k = validate(question, top_k)
        return _Question(principal, question, top_k, self._prompts.select(principal), self._policies.for_tenant(principal.tenant))

    def _screen_input(self, request: _Question) -> str:
        """Screen the question; return why it is refused, or ""."""
        screened = self._guardrail.screen_input(request.principal.tenant, request.text)
        request.verdicts += len(screened.verdicts)
        if not screened.allowed:
            return _refusal("The question was refused", screened.verdicts)
        _require_text(screened.text, request.text)
        request.query = screened.text
        return ""

    def _cached(self, request: _Question) -> CachedAnswer | None:
        if self._cache is None:
            return None
        request.cache_key = self._cache.key(request.principal, request.query, request.prompt.ref)
        if request.cache_key is None:
            request.cache = "unavailable"
            return None
        cached = self._cache.get(request.cache_key)
        request.cache = "hit" if cached else "miss"
        return cached

    def _retrieve(self, request: _Question) -> bool:
        """Fill in the passages for the question; False when there are none."""
        embedded = self._embedder.embed(request.query)
        if len(embedded.vectors) != 1:
            raise DependencyError("embedding", f"returned {len(embedded.vectors)} vectors for one text", "failed")
        found = self._search.search(embedded.vectors[0].values, request.top_k)
        # Vectors of two different models are not comparable: the hits would be noise.
        if found.embedding_model and embedded.model and found.embedding_model != embedded.model:
            raise DependencyError(
                "retrieval",
                f"the index holds {found.embedding_model} vectors but the query was embedded with {embedded.model}",
                "failed",
            )
        request.passages = list(found.hits)
        return bool(request.passages)

    def _screen_output(self, request: _Question, text: str) -> guardrail_pb2.ScreenOutputResponse:
        screened = self._guardrail.screen_output(
            request.principal.tenant, text, [passage.text for passage in request.passages]
        )
        request.verdicts += len(screened.verdicts)
        if screened.allowed:
            _require_text(screened.text, text)
        return screened

    def _charge(self, request: _Question, draft: Draft) -> None:
        if self._costs is not None and draft.endpoint:
            request.charge = self._costs.charge(
                request.principal.tenant, request.principal.subject, draft.endpoint, draft.model,
                draft.prompt_tokens, draft.completion_tokens,
            )

    def _finish(self, request: _Question, outcome: _Outcome) -> generation_pb2.AnswerResponse:
        draft = outcome.draft
        refusal = outcome.refusal or (draft.refusal_reason if draft and draft.refused else "")
        text = "" if refusal else outcome.text
        # Only markers still in the text the caller gets: a cut or a redaction may have removed some.
        numbers = set(cited_numbers(text, len(request.passages)))
        citations = build_citations([n for n in draft.citations if n in numbers] if draft else [], request.passages)
        response = generation_pb2.AnswerResponse(
            answer_id=request.answer_id,
            text=text,
            citations=citations,
            refused=bool(refusal),
            refusal_reason=refusal,
            model=draft.model if draft and draft.model else "",
            prompt_version=request.prompt.ref,
            usage=generation_pb2.Usage(
                prompt_tokens=draft.prompt_tokens if draft else 0,
                completion_tokens=draft.completion_tokens if draft else 0,
            ),
            trace_id=request.trace_id,
        )
        if outcome.cacheable and self._cache is not None and request.cache_key:
            self._cache.put(request.cache_key, response, request.passages)
        details = {
            "model": response.model,
            "prompt_tokens": str(response.usage.prompt_tokens),
            "completion_tokens": str(response.usage.completion_tokens),
            "cited_chunk_ids": ",".join(citation.chunk_id for citation in citations),
            "cited_document_ids": ",".join(dict.fromkeys(citation.document_id for citation in citations)),
        }
        if draft:
            # The routing decision: which endpoint read the passages, and how many no model received.
            details["endpoint"] = draft.endpoint or "none"
            details["passages_withheld"] = "0" if draft.endpoint else str(len(request.passages))
        if draft and draft.truncated:
            details["truncated"] = "model token limit"
        if refusal:
            details["refusal_reason"] = refusal
        self._record(request, "refused" if refusal else "ok", details)
        return response

    def _serve_cached(self, request: _Question, cached: CachedAnswer) -> generation_pb2.AnswerResponse:
        response = generation_pb2.AnswerResponse()
        response.CopyFrom(cached.response)
        details = {
            "model": response.model,
            "cached_answer_id": response.answer_id,
            "cited_chunk_ids": ",".join(citation.chunk_id for citation in response.citations),
            "cited_document_ids": ",".join(dict.fromkeys(citation.document_id for citation in response.citations)),
        }
        if response.refused:
            details["refusal_reason"] = response.refusal_reason
        # This request's own identity; no model was called, so it used no tokens.
        response.answer_id = request.answer_id
        response.trace_id = request.trace_id
        response.usage.Clear()
        self._record(
            request, "refused" if response.refused else "ok", details,
            document_ids=cached.document_ids, chunk_ids=cached.chunk_ids, model=response.model,
        )
        return response

    def _record(
        self,
        request: _Question,
        outcome: str,
        details: dict[str, str],
        *,
        document_ids: Sequence[str] | None = None,
        chunk_ids: Sequence[str] | None = None,
        model: str = "",
    ) -> None:
        """Queue the audit record. Without it there is no answer: failing to queue it fails the request."""
        request.recorded = True
        details = {
            "answer_id": request.answer_id,
            "prompt_version": request.prompt.ref,
            "top_k": str(request.top_k),
            "latency_ms": str(round((time.monotonic() - request.started) * 1000)),
            "verdicts": str(request.verdicts),
            "cache": request.cache,
            **(request.charge.details() if request.charge else {}),
            **details,
        }
        if request.passages:
            details["max_sensitivity"] = sensitivity_label(passage_sensitivity(request.passages))
        request.span.set_attributes({
            "ragline.answer.id": request.answer_id,
            "ragline.answer.outcome": outcome,
            "ragline.prompt.version": request.prompt.ref,
            "ragline.answer_cache.result": request.cache,
        })
        try:
            with trace.use_span(request.span, end_on_exit=False):
                self._audit.record(
                    "answer",
                    request.principal.tenant,
                    request.principal.subject,
                    outcome,
                    # Everything retrieved, not only what was cited: the model read all of it.
                    document_ids=list(document_ids if document_ids is not None else dict.fromkeys(p.document_id for p in request.passages)),
                    chunk_ids=list(chunk_ids if chunk_ids is not None else (p.chunk_id for p in request.passages)),
                    details=details,
                )
        except Exception as error:  # noqa: BLE001 - any failure to queue means the record may be lost
            raise DependencyError("audit", f"cannot queue the audit record: {error}", "unavailable") from error
        if self._answers is not None and outcome != "error":
            self._answers.remember(request.principal, request.answer_id, request.prompt.ref, model or details.get("model", ""))

    @contextmanager
    def _audited_failure(self, request: _Question) -> Iterator[None]:
        """A request that fails or is cancelled is audited too: its passages may already have reached the model."""
        try:
            yield
        except GeneratorExit:
            self._record_failure(request, "cancelled by the client")
            raise
        except Exception as error:
            self._record_failure(request, str(error))
            raise

    def _record_failure(self, request: _Question, error: str) -> None:
        if request.recorded:
            return
        try:
            self._record(request, "error", {"error": error})
        except DependencyError as audit_error:
            # The request fails anyway; its own error is the one to report.
            fields = {"answer_id": request.answer_id, "error": str(audit_error)}
            log.error("answer failure not audited", extra={"fields": fields})


def _final(response: generation_pb2.AnswerResponse) -> generation_pb2.AnswerStreamResponse:
    return generation_pb2.AnswerStreamResponse(final=response)


def _require_text(screened: str, original: str) -> None:
    # The guardrail returns the text to use; an empty one for a non-empty
    # input would silently drop the question or the answer.
    if original.strip() and not screened.strip():
        raise DependencyError("guardrail", "allowed a text but returned it empty", "failed")


def _refusal(what: str, verdicts: Sequence[guardrail_pb2.Verdict]) -> str:
    reasons = [v.reason for v in verdicts if v.action == guardrail_pb2.ACTION_BLOCK and v.reason]
    return f"{what} by policy: {'; '.join(reasons)}" if reasons else f"{what} by policy."
