"""The Embed gRPC call: query texts to vectors with the index's model."""

from __future__ import annotations

import grpc

from ragline.v1 import embedding_pb2, embedding_pb2_grpc
from services.embedding.embedder import Encode

MAX_TEXTS = 64


class EmbeddingServicer(embedding_pb2_grpc.EmbeddingServiceServicer):
    def __init__(self, encode: Encode, model: str, model_version: str):
        self._encode = encode
        self._model = model
        self._model_version = model_version

    def Embed(self, request: embedding_pb2.EmbedRequest, context: grpc.ServicerContext) -> embedding_pb2.EmbedResponse:
        if not request.texts:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "texts is empty: send at least one text to embed")
        if len(request.texts) > MAX_TEXTS:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{len(request.texts)} texts sent; at most {MAX_TEXTS} per call")
        vectors = self._encode(list(request.texts))
        return embedding_pb2.EmbedResponse(
            vectors=[embedding_pb2.Vector(values=vector.tolist()) for vector in vectors],
            model=self._model,
            model_version=self._model_version,
        )
