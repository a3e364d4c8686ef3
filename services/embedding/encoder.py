"""all-MiniLM-L6-v2 sentence embeddings in numpy, without torch.

The forward pass is HF BertModel followed by sentence-transformers' mean pooling
and L2 normalization, in float32 (see docs/adr/0002-embedding-runtime.md).

Sequences are packed rather than padded: the dense layers run on the real
tokens of all sequences stacked together, and self-attention runs per sequence
over its own tokens only. That is exactly what the attention mask computes
(masked keys get a softmax weight of exactly 0), minus all work on padding, so
a batch of mixed lengths costs what its tokens cost.

A call's texts are cut into sub-batches that run side by side on a pool of
threads, one per core, each with a single-threaded BLAS. numpy's OpenBLAS
would otherwise split every matmul across the cores and leave them spinning
while the elementwise steps (GELU, softmax, layer norm) run on one; measured
on 2 cores with 250-token chunks, that is 22 chunks/s at 89 ms of CPU per
chunk against 27 chunks/s at 71 ms. A spinning BLAS thread also burns CPU the
rest of the pipeline needs (docs/adr/0002-embedding-runtime.md).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from safetensors.numpy import load_file
from threadpoolctl import threadpool_limits

from ragline import minilm

_F32 = np.float32
# Measured on 250-token chunks: 256-1024 rows are equally fast; smaller blocks
# leave OpenBLAS's threads too little work per call.
_FEED_FORWARD_ROWS = 512


@dataclass(frozen=True)
class _Layer:
    qkv_weight: np.ndarray  # (hidden, 3 * hidden), query part pre-scaled by 1/sqrt(head_dim)
    qkv_bias: np.ndarray
    attention_out_weight: np.ndarray
    attention_out_bias: np.ndarray
    attention_norm: tuple[np.ndarray, np.ndarray]
    intermediate_weight: np.ndarray
    intermediate_bias: np.ndarray
    output_weight: np.ndarray
    output_bias: np.ndarray
    output_norm: tuple[np.ndarray, np.ndarray]


class MiniLMEncoder:
    """Embeds texts into L2-normalized float32 vectors of minilm.DIMENSION."""

    def __init__(self, batch_size: int = 16, workers: int | None = None) -> None:
        """`batch_size` texts per sub-batch (16 measured fastest: the activations stay
        in cache), `workers` sub-batches at once (default: the cores this process may use)."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        self.workers = workers or len(os.sched_getaffinity(0))
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        # Process-wide: the encoder is the only heavy BLAS user of a process that holds one.
        threadpool_limits(1, user_api="blas")
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="minilm") if self.workers > 1 else None
        self._tokenizer = minilm.load_tokenizer()
        self._tokenizer.no_padding()  # packed sequences need no padding

        config = json.loads((minilm.model_dir() / "config.json").read_text(encoding="utf-8"))
        if config["hidden_act"] != "gelu":
            raise ValueError(f"unsupported activation {config['hidden_act']!r}")
        self._heads = int(config["num_attention_heads"])
        self._head_dim = int(config["hidden_size"]) // self._heads
        self._eps = _F32(config["layer_norm_eps"])

        weights = load_file(str(minilm.model_dir() / "model.safetensors"))
        self._word_embeddings = weights["embeddings.word_embeddings.weight"]
        self._position_embeddings = weights["embeddings.position_embeddings.weight"]
        # Ragline embeds single texts, so every token has type 0.
        self._token_type_embedding = weights["embeddings.token_type_embeddings.weight"][0]
        self._embedding_norm = _norm(weights, "embeddings.LayerNorm")
        self._layers = [
            self._load_layer(weights, f"encoder.layer.{i}") for i in range(int(config["num_hidden_layers"]))
        ]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return an (len(texts), DIMENSION) float32 array, one unit vector per text, in order."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not a single string")
        output = np.empty((len(texts), minilm.DIMENSION), dtype=_F32)
        if not texts:
            return output
        token_ids = [encoding.ids for encoding in self._tokenizer.encode_batch(list(texts))]
        # Packing wastes nothing on mixed lengths, so sub-batches need no
        # sorting by length. A few texts are still spread over every worker, so
        # a small batch takes all cores too. A single text runs in the caller's
        # thread: a query never waits behind the pool's queue.
        size = min(self.batch_size, -(-len(texts) // self.workers))
        starts = range(0, len(texts), size)
        batches = [token_ids[start : start + size] for start in starts]
        if len(batches) == 1 or self._pool is None:
            vectors = map(self._embed_packed, batches)
        else:
            vectors = self._pool.map(self._embed_packed, batches)
        for start, batch_vectors in zip(starts, vectors):
            output[start : start + len(batch_vectors)] = batch_vectors
        return output

    def _embed_packed(self, sequences: list[list[int]]) -> np.ndarray:
        lengths = np.array([len(ids) for ids in sequences])
        bounds = np.concatenate(([0], np.cumsum(lengths)))
        ids = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
        positions = np.concatenate([np.arange(n) for n in lengths])

        hidden = self._word_embeddings[ids]
        hidden += self._position_embeddings[positions]
        hidden += self._token_type_embedding
        hidden = _layer_norm(hidden, *self._embedding_norm, self._eps)
        for layer in self._layers:
            hidden = self._layer_forward(hidden, bounds, layer)

        pooled = np.add.reduceat(hidden, bounds[:-1], axis=0) / lengths[:, None].astype(_F32)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, _F32(1e-12))

    def _layer_forward(self, hidden: np.ndarray, bounds: np.ndarray, layer: _Layer) -> np.ndarray:
        tokens, width = hidden.shape
        qkv = hidden @ layer.qkv_weight
        qkv += layer.qkv_bias
        # (tokens, 3, heads, head_dim) -> (3, heads, tokens, head_dim)
        qkv = qkv.reshape(tokens, 3, self._heads, self._head_dim).transpose(1, 2, 0, 3)
        context = np.empty((self._heads, tokens, self._head_dim), dtype=_F32)
        for start, stop in zip(bounds[:-1], bounds[1:]):
            query, key, value = qkv[:, :, start:stop]
            scores = query @ key.transpose(0, 2, 1)
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            # Softmax's division is applied to the (heads, n, head_dim) product
            # rather than to the n-times-larger (heads, n, n) scores.
            sequence_context = context[:, start:stop]
            np.matmul(scores, value, out=sequence_context)
            sequence_context /= scores.sum(axis=-1, keepdims=True)
        context = context.transpose(1, 0, 2).reshape(tokens, width)

        attended = context @ layer.attention_out_weight
        attended += layer.attention_out_bias
        attended += hidden
        hidden = _layer_norm(attended, *layer.attention_norm, self._eps)

        output = np.empty_like(hidden)
        # Row blocks keep the 4x wider intermediate activations in cache
        # between the two matmuls and the many elementwise passes of GELU.
        for start in range(0, tokens, _FEED_FORWARD_ROWS):
            rows = slice(start, start + _FEED_FORWARD_ROWS)
            intermediate = hidden[rows] @ layer.intermediate_weight
            intermediate += layer.intermediate_bias
            _gelu_inplace(intermediate)
            np.matmul(intermediate, layer.output_weight, out=output[rows])
        output += layer.output_bias
        output += hidden
        return _layer_norm(output, *layer.output_norm, self._eps)

    def _load_layer(self, weights: dict[str, np.ndarray], prefix: str) -> _Layer:
        def dense(name: str) -> tuple[np.ndarray, np.ndarray]:
            # torch Linear stores (out, in); keep (in, out) contiguous for x @ W.
            return (
                np.ascontiguousarray(weights[f"{prefix}.{name}.weight"].T),
                weights[f"{prefix}.{name}.bias"],
            )

        query_weight, query_bias = dense("attention.self.query")
        key_weight, key_bias = dense("attention.self.key")
        value_weight, value_bias = dense("attention.self.value")
        scale = _F32(1.0 / np.sqrt(self._head_dim))
        attention_out = dense("attention.output.dense")
        intermediate = dense("intermediate.dense")
        output = dense("output.dense")
        return _Layer(
            qkv_weight=np.concatenate([query_weight * scale, key_weight, value_weight], axis=1),
            qkv_bias=np.concatenate([query_bias * scale, key_bias, value_bias]),
            attention_out_weight=attention_out[0],
            attention_out_bias=attention_out[1],
            attention_norm=_norm(weights, f"{prefix}.attention.output.LayerNorm"),
            intermediate_weight=intermediate[0],
            intermediate_bias=intermediate[1],
            output_weight=output[0],
            output_bias=output[1],
            output_norm=_norm(weights, f"{prefix}.output.LayerNorm"),
        )


def _norm(weights: dict[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    return weights[f"{prefix}.weight"], weights[f"{prefix}.bias"]


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: np.float32) -> np.ndarray:
    centered = x - x.mean(axis=-1, keepdims=True)
    variance = np.mean(np.square(centered), axis=-1, keepdims=True)
    centered /= np.sqrt(variance + eps)
    centered *= gamma
    centered += beta
    return centered


# erfc(z) ~= t * P(t) * exp(-z^2), t = 1 / (1 + p z), z >= 0: Abramowitz & Stegun 7.1.26,
# absolute error <= 1.5e-7, below float32 resolution of the GELU output.
_ERFC_P = 0.3275911
_ERFC_COEFFICIENTS = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)
_INV_SQRT2 = 0.7071067811865476


def _gelu_inplace(x: np.ndarray) -> None:
    """Exact (erf) GELU, as HF "gelu": x * Phi(x) = max(x, 0) - |x| * erfc(|x| / sqrt 2) / 2.

    Written in the symmetric form above so that one erfc serves both signs.
    """
    magnitude = np.abs(x)
    t = magnitude * _F32(_ERFC_P * _INV_SQRT2)
    t += _F32(1.0)
    np.reciprocal(t, out=t)
    # Horner's rule, with the final 1/2 folded into the coefficients.
    tail = t * _F32(0.5 * _ERFC_COEFFICIENTS[0])
    for coefficient in _ERFC_COEFFICIENTS[1:]:
        tail += _F32(0.5 * coefficient)
        tail *= t
    np.square(magnitude, out=t)
    t *= _F32(-0.5)
    np.exp(t, out=t)
    tail *= t
    tail *= magnitude
    np.maximum(x, _F32(0.0), out=x)
    x -= tail
