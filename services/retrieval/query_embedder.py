"""Query texts to vectors, through the embedding service's Embed call."""

from __future__ import annotations

import grpc

from ragline.rpc import CallCredentials
from ragline.v1 import embedding_pb2, embedding_pb2_grpc


class QueryEmbedder:
    def __init__(self, channel: grpc.Channel, credentials: CallCredentials):
        self._stub = embedding_pb2_grpc.EmbeddingServiceStub(channel)
        self._credentials = credentials

    def embed(self, text: str, timeout_s: float) -> tuple[list[float], str]:
        """The text's vector and the model that made it. While serving a
        search the call carries the searcher's own token."""
        response = self._stub.Embed(
            embedding_pb2.EmbedRequest(texts=[text]), metadata=self._credentials.metadata(), timeout=timeout_s
        )
        vector = list(response.vectors[0].values) if response.vectors else []
        return vector, response.model
