"""Turns chunk events into embedding events, many documents per model call."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ragline.auditing import event_header
from ragline.v1 import chunks_pb2, embeddings_pb2

Encode = Callable[[Sequence[str]], np.ndarray]


class ChunkEmbedder:
    def __init__(self, encode: Encode, model: str, model_version: str):
        self._encode = encode
        self.model = model
        self.model_version = model_version

    def embed(self, events: Sequence[chunks_pb2.ChunkEvent]) -> list[embeddings_pb2.EmbeddingEvent]:
        """One embedding event per chunk event, in order; deletes pass through.

        All chunks of all events go to the model in one call: batching across
        documents is what keeps the model busy when documents are small.
        """
        texts = [chunk.text for event in events if event.HasField("upsert") for chunk in event.upsert.chunks]
        vectors = iter(self._encode(texts) if texts else ())
        results = []
        for event in events:
            result = embeddings_pb2.EmbeddingEvent(
                header=event_header(event.header.tenant, "embedding"),
                document_id=event.document_id,
                document_version=event.document_version,
                embedding_model=self.model,
                embedding_model_version=self.model_version,
            )
            if event.HasField("upsert"):
                for chunk in event.upsert.chunks:
                    embedded = result.upsert.chunks.add(vector=next(vectors).tolist())
                    embedded.chunk.CopyFrom(chunk)
                    embedded.chunk.metadata["embedding_model"] = self.model
                    embedded.chunk.metadata["embedding_model_version"] = self.model_version
                result.upsert.SetInParent()
            else:
                result.delete.CopyFrom(event.delete)
            results.append(result)
        return results


def validate(event: chunks_pb2.ChunkEvent) -> str | None:
    """Why a chunk event cannot be embedded, or None."""
    if not event.header.tenant:
        return "header.tenant is empty"
    if not event.document_id:
        return "document_id is empty"
    if not (event.HasField("upsert") or event.HasField("delete")):
        return "neither upsert nor delete is set"
    if event.HasField("upsert"):
        for chunk in event.upsert.chunks:
            if not chunk.chunk_id or not chunk.text.strip():
                return f"chunk {chunk.ordinal} has no id or no text"
    return None
