"""Feedback on answers: who may rate what, where it goes, and satisfaction per prompt version.

Every answer given is remembered in Redis for the feedback window (tenant,
principal, prompt version, model), so that a rating is accepted only from the
caller who got the answer and is counted against the prompt version that
produced it. A rating goes to `ragline.feedback.v1` and the audit log, and
into per-tenant counters per prompt version, which `ragline prompts show`
reports. A caller who rates the same answer again replaces their rating: the
counters move in one atomic script, so they always equal one rating per answer.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Mapping, Protocol

import redis
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from ragline.auditing import event_header
from ragline.auth import Principal
from ragline.kafka import FEEDBACK
from ragline.v1 import generation_pb2, guardrail_pb2
from services.generation.errors import DependencyError, InvalidRequest, UnknownAnswer

log = logging.getLogger(__name__)

MAX_COMMENT_CHARS = 2000
_ANSWER_ID = re.compile(r"^[0-9a-f]{32}$")
RATINGS = {generation_pb2.RATING_HELPFUL: "helpful", generation_pb2.RATING_NOT_HELPFUL: "not_helpful"}

# KEYS: the answer, the tenant's satisfaction counters. ARGV: tenant, principal, rating.
# Returns nil when the answer is unknown or was given to someone else.
_RATE = """
local answer = redis.call('HMGET', KEYS[1], 'tenant', 'principal', 'prompt_version', 'rating')
if not answer[1] or answer[1] ~= ARGV[1] or answer[2] ~= ARGV[2] then return false end
if answer[4] ~= ARGV[3] then
  if answer[4] then redis.call('HINCRBY', KEYS[2], answer[3] .. '|' .. answer[4], -1) end
  redis.call('HINCRBY', KEYS[2], answer[3] .. '|' .. ARGV[3], 1)
  redis.call('HSET', KEYS[1], 'rating', ARGV[3])
end
return answer[3]
"""


def _answer_key(tenant: str, answer_id: str) -> str:
    # The tenant's hash tag keeps the answer and its tenant's counters on one cluster slot.
    return f"ragline:answer:{{{tenant}}}:{answer_id}"


def _satisfaction_key(tenant: str) -> str:
    return f"ragline:satisfaction:{{{tenant}}}"


@dataclass(frozen=True)
class GivenAnswer:
    prompt_version: str
    model: str
    answered_at: float


@dataclass(frozen=True)
class Satisfaction:
    helpful: int
    not_helpful: int

    @property
    def rated(self) -> int:
        return self.helpful + self.not_helpful

    @property
    def share_helpful(self) -> float | None:
        return self.helpful / self.rated if self.rated else None


class AnswerBook:
    """The answers given, kept for the feedback window, and the ratings they got."""

    def __init__(self, client: redis.Redis, window_s: int):
        self._redis = client
        self._window_s = window_s
        self._rate = client.register_script(_RATE)

    @property
    def window_days(self) -> float:
        return self._window_s / 86400

    def remember(self, principal: Principal, answer_id: str, prompt_version: str, model: str) -> None:
        """Best effort: without it the answer still goes out, but cannot be rated."""
        key = _answer_key(principal.tenant, answer_id)
        fields = {"tenant": principal.tenant, "principal": principal.subject, "prompt_version": prompt_version,
                  "model": model, "answered_at": f"{time.time():.3f}"}
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=fields)
                pipe.expire(key, self._window_s)
                pipe.execute()
        except redis.RedisError as error:
            log.warning("answer not remembered for feedback", extra={"fields": {"answer_id": answer_id, "error": str(error)}})

    def find(self, principal: Principal, answer_id: str) -> GivenAnswer | None:
        """The answer if it was given to this principal within the window."""
        fields = self._redis.hgetall(_answer_key(principal.tenant, answer_id))
        if not fields or fields.get(b"principal", b"").decode() != principal.subject:
            return None
        return GivenAnswer(fields[b"prompt_version"].decode(), fields[b"model"].decode(), float(fields[b"answered_at"]))

    def rate(self, principal: Principal, answer_id: str, rating: str) -> None:
        keys = [_answer_key(principal.tenant, answer_id), _satisfaction_key(principal.tenant)]
        self._rate(keys=keys, args=[principal.tenant, principal.subject, rating])


def read_satisfaction(client: redis.Redis, tenant: str) -> dict[str, Satisfaction]:
    """Ratings per prompt version of one tenant."""
    counts: dict[str, dict[str, int]] = {}
    for field, value in client.hgetall(_satisfaction_key(tenant)).items():
        version, _, rating = field.decode().rpartition("|")
        counts.setdefault(version, {})[rating] = int(value)
    return {
        version: Satisfaction(found.get("helpful", 0), found.get("not_helpful", 0))
        for version, found in sorted(counts.items())
    }


def satisfaction_tenants(client: redis.Redis) -> list[str]:
    """The tenants with ratings."""
    prefix = len(_satisfaction_key(""))
    return sorted(key.decode()[prefix - 1 : -1] for key in client.scan_iter(match="ragline:satisfaction:{*}", count=500))


class CommentScreen(Protocol):
    def screen_input(self, tenant: str, text: str) -> guardrail_pb2.ScreenInputResponse: ...


class EventPublisher(Protocol):
    def publish(self, topic: str, key: str, event: Message) -> None: ...


class AuditRecorder(Protocol):
    def record(self, action: str, tenant: str, principal: str, outcome: str, *, details: Mapping[str, str] | None = None) -> None: ...


class FeedbackDesk:
    def __init__(self, book: AnswerBook, guardrail: CommentScreen, events: EventPublisher, audit: AuditRecorder):
        self._book = book
        self._guardrail = guardrail
        self._events = events
        self._audit = audit

    def give(self, principal: Principal, answer_id: str, rating: int, comment: str) -> str:
        """Record a rating of an answer; returns the feedback id."""
        rating_name = _validate(answer_id, rating, comment)
        try:
            answer = self._book.find(principal, answer_id)
        except redis.RedisError as error:
            raise DependencyError("redis", f"cannot look the answer up: {error}", "unavailable") from error
        if answer is None:
            days = f"{self._book.window_days:g}"
            raise UnknownAnswer(f"no answer {answer_id} was given to you in the last {days} days: rate an answer you received")
        comment_text, withheld = self._screened(principal.tenant, comment)
        feedback_id = uuid.uuid4().hex
        answered_at = Timestamp()
        answered_at.FromNanoseconds(int(answer.answered_at * 1e9))
        event = generation_pb2.FeedbackEvent(
            header=event_header(principal.tenant, "generation"),
            feedback_id=feedback_id,
            answer_id=answer_id,
            principal=principal.subject,
            rating=rating,
            comment=comment_text,
            prompt_version=answer.prompt_version,
            model=answer.model,
            answered_at=answered_at,
        )
        details = {"feedback_id": feedback_id, "answer_id": answer_id, "rating": rating_name,
                   "prompt_version": answer.prompt_version, "model": answer.model}
        if withheld:
            details["comment"] = "withheld by policy"
        try:
            self._events.publish(FEEDBACK, principal.tenant, event)
            self._audit.record("feedback", principal.tenant, principal.subject, "ok", details=details)
        except Exception as error:  # noqa: BLE001 - any failure to queue means the feedback may be lost
            raise DependencyError("kafka", f"cannot queue the feedback: {error}", "unavailable") from error
        try:
            self._book.rate(principal, answer_id, rating_name)
        except redis.RedisError as error:
            # The event is out: the counters can be rebuilt from the topic, so the caller is not failed.
            log.error("rating not counted", extra={"fields": {"feedback_id": feedback_id, "error": str(error)}})
        return feedback_id

    def _screened(self, tenant: str, comment: str) -> tuple[str, bool]:
        """The comment with personal data and secrets redacted; ("", True) when policy blocks it."""
        if not comment.strip():
            return "", False
        screened = self._guardrail.screen_input(tenant, comment)
        if not screened.allowed:
            return "", True
        return screened.text, False


def _validate(answer_id: str, rating: int, comment: str) -> str:
    if not _ANSWER_ID.match(answer_id):
        raise InvalidRequest(f"answer_id {answer_id[:40]!r} is not an answer id: send the answer_id of an answer (32 hex digits)")
    if rating not in RATINGS:
        raise InvalidRequest("rating is missing: send RATING_HELPFUL or RATING_NOT_HELPFUL")
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidRequest(f"comment has {len(comment)} characters; at most {MAX_COMMENT_CHARS} are accepted")
    return RATINGS[rating]
