"""Hashed character and word n-grams: what the injection classifier reads.

Character 3- to 5-grams carry the classifier across languages, inflections
and the spelling variants rules miss; word unigrams and bigrams carry
phrasing. Both are hashed into one fixed space, so there is no vocabulary to
ship, and the same function serves training and screening.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

DIMENSION_BITS = 18
DIMENSION = 1 << DIMENSION_BITS
CHAR_NGRAMS = (3, 4, 5)

_WORD = re.compile(r"[a-z0-9']+")
_MULTIPLIER = np.uint64(1_000_003)
_MIX = np.uint64(0xFF51AFD7ED558CCD)
_SHIFT_MIX = np.uint64(33)
_SHIFT_INDEX = np.uint64(64 - DIMENSION_BITS)


def _bucket(hashes: np.ndarray) -> np.ndarray:
    # The murmur3 finalizer spreads the rolling hashes over the whole space.
    hashes = hashes ^ (hashes >> _SHIFT_MIX)
    hashes = hashes * _MIX
    hashes = hashes ^ (hashes >> _SHIFT_MIX)
    return (hashes >> _SHIFT_INDEX).astype(np.int64)


def _char_ngrams(text: str) -> np.ndarray:
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    parts = []
    for n in CHAR_NGRAMS:
        count = len(codes) - n + 1
        if count <= 0:
            continue
        hashes = np.full(count, n, dtype=np.uint64)
        for offset in range(n):
            hashes = hashes * _MULTIPLIER + codes[offset : offset + count]
        parts.append(hashes)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)


def _word_ngrams(text: str) -> np.ndarray:
    words = _WORD.findall(text)
    grams = [f"w {word}" for word in words] + [f"b {first} {second}" for first, second in zip(words, words[1:])]
    return np.fromiter((zlib.crc32(gram.encode()) for gram in grams), dtype=np.uint64, count=len(grams))


def featurize(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(feature indices, L2-normalized log-scaled counts) of a text."""
    folded = " " + " ".join(text.lower().split()) + " "
    hashes = np.concatenate([_char_ngrams(folded), _word_ngrams(folded) << np.uint64(20)])
    if not len(hashes):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    indices, counts = np.unique(_bucket(hashes), return_counts=True)
    values = np.log1p(counts).astype(np.float32)
    values /= np.float32(np.linalg.norm(values))
    return indices, values
