"""Answers kept in Redis, never served to a caller who could read other passages.

The key holds everything an answer depends on:
- the tenant;
- the access scope: a hash of subject, groups and clearance, because access
  lists name users as well as groups, so two callers share answers only if
  they may read exactly the same passages;
- the normalized question (after input screening);
- the prompt version;
- the tenant's index generation, a counter retrieval increments after every
  index change of the tenant: a document that changes makes every earlier
  answer of that tenant unreachable, and those entries expire with their TTL.
The generation is read before retrieval, so an answer stored while a document
changed lands under the old generation and is never served.
Redis failing makes the cache miss and skip storing; the answer goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

import redis

from ragline.auth import Principal
from ragline.v1 import generation_pb2, retrieval_pb2

log = logging.getLogger(__name__)

_TRAILING = re.compile(r"[\s?!.]+$")


def index_generation_key(tenant: str) -> str:
    return f"ragline:index-generation:{tenant}"


def access_scope(principal: Principal) -> str:
    identity = json.dumps([principal.subject, sorted(set(principal.groups)), principal.clearance])
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def normalize_question(text: str) -> str:
    """The same question typed differently: Unicode forms, case, spacing, final punctuation."""
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return _TRAILING.sub("", folded)


@dataclass(frozen=True)
class CachedAnswer:
    # The answer as first given; answer_id and trace_id are those of that request.
    response: generation_pb2.AnswerResponse
    # Everything retrieved for it, for the audit record of each request it serves.
    chunk_ids: list[str]
    document_ids: list[str]


class AnswerCache:
    def __init__(self, client: redis.Redis, ttl_s: int):
        self._redis = client
        self._ttl_s = ttl_s

    def key(self, principal: Principal, question: str, prompt_version: str) -> str | None:
        """Where this question's answer is kept, or None when Redis cannot tell the index generation."""
        try:
            generation = self._redis.get(index_generation_key(principal.tenant))
        except redis.RedisError as error:
            _unavailable("key", error)
            return None
        question_hash = hashlib.sha256(normalize_question(question).encode()).hexdigest()[:32]
        generation_text = generation.decode() if generation else "0"
        return (
            f"ragline:answer-cache:{principal.tenant}:{access_scope(principal)}:"
            f"{prompt_version}:{generation_text}:{question_hash}"
        )

    def get(self, key: str) -> CachedAnswer | None:
        try:
            fields = self._redis.hgetall(key)
        except redis.RedisError as error:
            _unavailable("get", error)
            return None
        if not fields:
            return None
        return CachedAnswer(
            response=generation_pb2.AnswerResponse.FromString(fields[b"response"]),
            chunk_ids=json.loads(fields[b"chunk_ids"]),
            document_ids=json.loads(fields[b"document_ids"]),
        )

    def put(self, key: str, response: generation_pb2.AnswerResponse, passages: Sequence[retrieval_pb2.SearchHit]) -> None:
        mapping = {
            "response": response.SerializeToString(),
            "chunk_ids": json.dumps([passage.chunk_id for passage in passages]),
            "document_ids": json.dumps(list(dict.fromkeys(passage.document_id for passage in passages))),
        }
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=mapping)
                pipe.expire(key, self._ttl_s)
                pipe.execute()
        except redis.RedisError as error:
            _unavailable("put", error)


def _unavailable(operation: str, error: Exception) -> None:
    log.warning("answer cache unavailable", extra={"fields": {"operation": operation, "error": str(error)}})
