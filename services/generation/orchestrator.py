"""One question, from the caller's principal to a screened, cited, audited answer.

screen the question → embed it → search what the caller may read → draft an
answer → screen the answer → cite → audit. The collaborators are small
interfaces, so the flow runs the same against the gRPC clients and against
plain Python implementations in tests.
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
from services.generation.answerer import NO_PASSAGE, Answerer, Draft
from services.generation.citations import build_citations
from services.generation.errors import DependencyError, InvalidQuestion
from services.generation.sentences import SentenceBuffer

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
    """The number of passages to retrieve; raises InvalidQuestion."""
    if not question.strip():
        raise InvalidQuestion(f"question is empty: ask a question of 1 to {MAX_QUESTION_CHARS} characters")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidQuestion(f"question has {len(question)} characters; at most {MAX_QUESTION_CHARS} are accepted")
    if not 0 <= top_k <= MAX_TOP_K:
        raise InvalidQuestion(f"top_k={top_k} is out of range: use 1 to {MAX_TOP_K}, or 0 for {DEFAULT_TOP_K}")
    return top_k or DEFAULT_TOP_K


@dataclass
class _Question:
    """What one request has done so far: the audit record is made from it."""

    principal: Principal
    text: str
    top_k: int
    answer_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    trace_id: str = field(default_factory=current_trace_id)
    # The request's span, so the audit record joins its trace whichever context finishes the request.
    span: trace.Span = field(default_factory=trace.get_current_span)
    started: float = field(default_factory=time.monotonic)
    query: str = ""
    passages: list[retrieval_pb2.SearchHit] = field(default_factory=list)
    verdicts: int = 0
    recorded: bool = False


class AnswerOrchestrator:
    def __init__(
        self,
        guardrail: Guardrail,
        embedder: QueryEmbedder,
        search: PassageSearch,
        answerer: Answerer,
        audit: AuditRecorder,
        stream_segment_chars: int = 600,
    ):
        self._guardrail = guardrail
        self._embedder = embedder
        self._search = search
        self._answerer = answerer
        self._audit = audit
        self._stream_segment_chars = stream_segment_chars

    def answer(self, principal: Principal, question: str, top_k: int) -> generation_pb2.AnswerResponse:
        request = _Question(principal, question, validate(question, top_k))
        with self._audited_failure(request):
            refusal = self._retrieve(request)
            if refusal:
                return self._finish(request, None, refusal=refusal)
            draft = self._answerer.answer(request.query, request.passages)
            if draft.refused:
                return self._finish(request, draft)
            screened = self._screen_output(request, draft.text)
            if not screened.allowed:
                return self._finish(request, draft, refusal=_refusal("The answer was withheld", screened.verdicts))
            return self._finish(request, draft, text=screened.text)

    def stream(self, principal: Principal, question: str, top_k: int) -> Iterator[generation_pb2.AnswerStreamResponse]:
        """Deltas as the answer is written, then the final response.

        Text is released a sentence at a time, each screened before it is
        sent: nothing reaches the caller that the output guardrail has not seen.
        Closing this generator stops the answerer (and the model stream).
        """
        request = _Question(principal, question, validate(question, top_k))
        with self._audited_failure(request):
            refusal = self._retrieve(request)
            if refusal:
                yield generation_pb2.AnswerStreamResponse(final=self._finish(request, None, refusal=refusal))
                return
            deltas = self._answerer.stream(request.query, request.passages)
            buffer = SentenceBuffer(self._stream_segment_chars)
            sent: list[str] = []
            draft: Draft | None = None
            blocked = ""
            try:
                while draft is None:
                    try:
                        segment = buffer.add(next(deltas))
                    except StopIteration as end:
                        draft = end.value
                        segment = buffer.drain()
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
            final = self._finish(request, draft, text="".join(sent), refusal=blocked)
            yield generation_pb2.AnswerStreamResponse(final=final)

    def _retrieve(self, request: _Question) -> str:
        """Fill in the passages for the question; return why it is refused, or ""."""
        screened = self._guardrail.screen_input(request.principal.tenant, request.text)
        request.verdicts += len(screened.verdicts)
        if not screened.allowed:
            return _refusal("The question was refused", screened.verdicts)
        _require_text(screened.text, request.text)
        request.query = screened.text
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
        return "" if request.passages else NO_PASSAGE

    def _screen_output(self, request: _Question, text: str) -> guardrail_pb2.ScreenOutputResponse:
        screened = self._guardrail.screen_output(
            request.principal.tenant, text, [passage.text for passage in request.passages]
        )
        request.verdicts += len(screened.verdicts)
        if screened.allowed:
            _require_text(screened.text, text)
        return screened

    def _finish(
        self, request: _Question, draft: Draft | None, *, text: str = "", refusal: str = ""
    ) -> generation_pb2.AnswerResponse:
        refusal = refusal or (draft.refusal_reason if draft and draft.refused else "")
        numbers = draft.citations if draft and not refusal else ()
        citations = build_citations(numbers, request.passages)
        response = generation_pb2.AnswerResponse(
            answer_id=request.answer_id,
            text="" if refusal else text,
            citations=citations,
            refused=bool(refusal),
            refusal_reason=refusal,
            model=draft.model if draft else "",
            prompt_version=draft.prompt_version if draft else "",
            usage=generation_pb2.Usage(
                prompt_tokens=draft.prompt_tokens if draft else 0,
                completion_tokens=draft.completion_tokens if draft else 0,
            ),
            trace_id=request.trace_id,
        )
        details = {
            "model": response.model,
            "prompt_version": response.prompt_version,
            "prompt_tokens": str(response.usage.prompt_tokens),
            "completion_tokens": str(response.usage.completion_tokens),
            "cited_chunk_ids": ",".join(citation.chunk_id for citation in citations),
            "cited_document_ids": ",".join(dict.fromkeys(citation.document_id for citation in citations)),
        }
        if refusal:
            details["refusal_reason"] = refusal
        self._record(request, "refused" if refusal else "ok", details)
        return response

    def _record(self, request: _Question, outcome: str, details: dict[str, str]) -> None:
        """Queue the audit record. Without it there is no answer: failing to queue it fails the request."""
        request.recorded = True
        details = {
            "answer_id": request.answer_id,
            "top_k": str(request.top_k),
            "latency_ms": str(round((time.monotonic() - request.started) * 1000)),
            "verdicts": str(request.verdicts),
            **details,
        }
        request.span.set_attributes({"ragline.answer.id": request.answer_id, "ragline.answer.outcome": outcome})
        try:
            with trace.use_span(request.span, end_on_exit=False):
                self._audit.record(
                    "answer",
                    request.principal.tenant,
                    request.principal.subject,
                    outcome,
                    # Everything retrieved, not only what was cited: the model read all of it.
                    document_ids=list(dict.fromkeys(passage.document_id for passage in request.passages)),
                    chunk_ids=[passage.chunk_id for passage in request.passages],
                    details=details,
                )
        except Exception as error:  # noqa: BLE001 - any failure to queue means the record may be lost
            raise DependencyError("audit", f"cannot queue the audit record: {error}", "unavailable") from error

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


def _require_text(screened: str, original: str) -> None:
    # The guardrail returns the text to use; an empty one for a non-empty
    # input would silently drop the question or the answer.
    if original.strip() and not screened.strip():
        raise DependencyError("guardrail", "allowed a text but returned it empty", "failed")


def _refusal(what: str, verdicts: Sequence[guardrail_pb2.Verdict]) -> str:
    reasons = [v.reason for v in verdicts if v.action == guardrail_pb2.ACTION_BLOCK and v.reason]
    return f"{what} by policy: {'; '.join(reasons)}" if reasons else f"{what} by policy."
