"""The numpy MiniLM encoder against vectors from the real sentence-transformers.

tests/fixtures/minilm_reference.json comes from tests/fixtures/make_minilm_reference.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from ragline import minilm
from services.embedding.encoder import MiniLMEncoder

REFERENCE = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "minilm_reference.json").read_text(encoding="utf-8")
)
TEXTS = [case["text"] for case in REFERENCE["cases"]]
EXPECTED = np.array([case["embedding"] for case in REFERENCE["cases"]], dtype=np.float32)

# The fixture is rounded to 6 decimals; float32 rounding differences between
# BLAS kernels stay well below this.
MAX_ABS_DIFF = 1e-5


@pytest.fixture(scope="module")
def encoder() -> MiniLMEncoder:
    return MiniLMEncoder(batch_size=4)


def _cosines(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    return np.sum(actual * expected, axis=1) / (
        np.linalg.norm(actual, axis=1) * np.linalg.norm(expected, axis=1)
    )


def test_reference_covers_truncation():
    assert REFERENCE["max_seq_length"] == minilm.MAX_TOKENS == 256
    assert max(case["untruncated_tokens"] for case in REFERENCE["cases"]) > minilm.MAX_TOKENS


def test_matches_sentence_transformers(encoder):
    actual = encoder.encode(TEXTS)

    cosines = _cosines(actual, EXPECTED)
    for text, cosine in zip(TEXTS, cosines):
        assert cosine >= 0.9999, f"cosine {cosine} for {text[:40]!r}"
    assert np.max(np.abs(actual - EXPECTED)) < MAX_ABS_DIFF


def test_output_is_float32_unit_vectors(encoder):
    actual = encoder.encode(TEXTS)

    assert actual.dtype == np.float32
    assert actual.shape == (len(TEXTS), minilm.DIMENSION)
    np.testing.assert_allclose(np.linalg.norm(actual, axis=1), 1.0, atol=1e-5)


def test_keeps_input_order_with_mixed_lengths_across_sub_batches(encoder):
    # Reversed, the 770-token text shares its sub-batch of 4 with 2- to 12-token ones.
    order = list(reversed(range(len(TEXTS))))

    actual = encoder.encode([TEXTS[i] for i in order])

    assert np.max(np.abs(actual - EXPECTED[order])) < MAX_ABS_DIFF


def test_same_vector_alone_or_in_a_batch(encoder):
    batch = encoder.encode(TEXTS)

    for i, text in enumerate(TEXTS):
        alone = encoder.encode([text])[0]
        np.testing.assert_allclose(alone, batch[i], atol=1e-6)


def test_truncates_to_max_tokens(encoder):
    long_text = next(case["text"] for case in REFERENCE["cases"] if case["untruncated_tokens"] > 256)
    tokenizer = minilm.load_tokenizer()

    assert len(tokenizer.encode(long_text).ids) == minilm.MAX_TOKENS
    # Text past the 256th token cannot change the vector.
    extended = long_text + " Completely different closing words about volcanoes and tax law."
    assert tokenizer.encode(extended).ids == tokenizer.encode(long_text).ids
    vectors = encoder.encode([long_text, extended])
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)


def test_tokenizer_pads_batches_to_the_longest():
    encodings = minilm.load_tokenizer().encode_batch(["short", "a somewhat longer sentence here"])

    assert len(encodings[0].ids) == len(encodings[1].ids)
    assert encodings[0].attention_mask.count(1) == 3  # [CLS] short [SEP]


def test_empty_input_gives_empty_matrix(encoder):
    assert encoder.encode([]).shape == (0, minilm.DIMENSION)


def test_rejects_a_bare_string(encoder):
    with pytest.raises(TypeError):
        encoder.encode("not a list")


def test_model_identity():
    assert minilm.MODEL_NAME == "sentence-transformers/all-MiniLM-L6-v2"
    assert minilm.DIMENSION == 384
    assert re.fullmatch(r"\d+\.\d+\.\d+\+[0-9a-f]{12}", minilm.MODEL_VERSION)
