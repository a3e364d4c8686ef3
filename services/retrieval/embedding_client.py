"""Texts to vectors through an embedding service's Embed call.

Retrieval embeds query texts with the service that serves the index's model,
re-embeds chunks whose event carries another model's vectors, and, during a
re-index, embeds every chunk with the new model's service.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol, Sequence

from opentelemetry.instrumentation.grpc import client_interceptor, grpcext

from ragline.rpc import channel
from ragline.v1 import embedding_pb2, embedding_pb2_grpc

# The Embed call's own limit (protos/ragline/v1/embedding.proto).
MAX_TEXTS_PER_CALL = 64


class Credentials(Protocol):
    """What a call carries to authenticate (ragline.rpc.CallCredentials)."""

    def metadata(self, callee: str | None = None) -> list[tuple[str, str]]: ...


@dataclass(frozen=True)
class Embedded:
    vectors: list[list[float]]
    model: str
    model_version: str


class EmbeddingClient:
    def __init__(self, address: str, credentials: Credentials, timeout_s: float):
        self.address = address
        # OpenTelemetry's interceptor works only with its own intercept_channel.
        self._stub = embedding_pb2_grpc.EmbeddingServiceStub(grpcext.intercept_channel(channel(address), client_interceptor()))
        self._credentials = credentials
        self._timeout_s = timeout_s

    def embed(self, texts: Sequence[str], timeout_s: float | None = None) -> Embedded:
        """One vector per text, in order, and the model that made them. While
        serving a search the calls carry the searcher's own token."""
        vectors: list[list[float]] = []
        model = model_version = ""
        for start in range(0, len(texts), MAX_TEXTS_PER_CALL):
            batch = list(texts[start : start + MAX_TEXTS_PER_CALL])
            response = self._stub.Embed(
                embedding_pb2.EmbedRequest(texts=batch),
                metadata=self._credentials.metadata("embedding"),
                timeout=self._timeout_s if timeout_s is None else timeout_s,
            )
            if len(response.vectors) != len(batch):
                raise EmbeddingMismatch(f"{self.address} returned {len(response.vectors)} vectors for {len(batch)} texts")
            if model and (response.model, response.model_version) != (model, model_version):
                raise EmbeddingMismatch(f"{self.address} changed its model while embedding one batch")
            model, model_version = response.model, response.model_version
            vectors.extend(list(vector.values) for vector in response.vectors)
        return Embedded(vectors, model, model_version)


class EmbeddingMismatch(Exception):
    """The embedding service answered, but not with what was asked for."""


class EmbeddingClients:
    """The embedding service for each model: the configured one, and those that
    re-indexes brought in for their models."""

    def __init__(self, default: EmbeddingClient):
        self._default = default
        self._by_model: dict[str, EmbeddingClient] = {}
        self._lock = threading.Lock()

    def for_model(self, model: str) -> EmbeddingClient:
        with self._lock:
            return self._by_model.get(model, self._default)

    def add(self, model: str, client: EmbeddingClient) -> None:
        with self._lock:
            self._by_model[model] = client
