"""Packs blocks into chunks that the embedding model reads whole.

Tokens are counted with the embedding model's own tokenizer, so a chunk's
length is exactly what the model sees (plus [CLS] and [SEP]), never an estimate.
Consecutive blocks of the same section are packed together up to the limit; a
block longer than the limit is cut into overlapping windows, at a line or
sentence end when one is near, and never inside a word. Chunk text is a slice
of the block text: nothing is added to it (the heading path is its own field).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from tokenizers import Encoding, Tokenizer

from services.ingest.parsing import Block

# Between packed blocks. Whitespace never forms a token, so a packed chunk
# counts exactly the sum of its blocks' tokens.
BLOCK_SEPARATOR = "\n\n"
_SENTENCE_ENDS = frozenset({".", "!", "?", ";", ":"})


@dataclass(frozen=True)
class ChunkText:
    heading_path: tuple[str, ...]
    text: str
    page: int
    # Indexes of the blocks the text came from, so facts about blocks
    # (e.g. a screening verdict) can be carried onto the chunk.
    blocks: tuple[int, ...]


class Chunker:
    def __init__(self, tokenizer: Tokenizer, max_tokens: int, overlap_tokens: int):
        """`tokenizer` becomes the chunker's own: truncation and padding are switched off on it."""
        if max_tokens < 2:
            raise ValueError(f"max_tokens is {max_tokens}; a chunk needs at least 2 tokens")
        if not 0 <= overlap_tokens <= max_tokens // 2:
            raise ValueError(f"overlap_tokens is {overlap_tokens}; it must be between 0 and half of max_tokens")
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens

    def count(self, text: str) -> int:
        """Tokens of `text` as the model reads it, without [CLS] and [SEP]."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def chunk(self, blocks: Sequence[Block]) -> list[ChunkText]:
        encodings = self._tokenizer.encode_batch([block.text for block in blocks], add_special_tokens=False)
        chunks: list[ChunkText] = []
        packed: list[int] = []
        packed_tokens = 0

        def flush() -> None:
            nonlocal packed, packed_tokens
            if packed:
                first = blocks[packed[0]]
                text = BLOCK_SEPARATOR.join(blocks[index].text for index in packed)
                chunks.append(ChunkText(first.heading_path, text, first.page, tuple(packed)))
            packed, packed_tokens = [], 0

        for index, (block, encoding) in enumerate(zip(blocks, encodings)):
            tokens = len(encoding.ids)
            if tokens == 0:
                continue
            if packed:
                previous = blocks[packed[-1]]
                same_section = (previous.heading_path, previous.page) == (block.heading_path, block.page)
                if not same_section or packed_tokens + tokens > self.max_tokens:
                    flush()
            if tokens > self.max_tokens:
                pieces = self._split(block.text, encoding)
                chunks.extend(ChunkText(block.heading_path, text, block.page, (index,)) for text in pieces)
                continue
            packed.append(index)
            packed_tokens += tokens
        flush()
        return chunks

    def _split(self, text: str, encoding: Encoding) -> list[str]:
        """Overlapping windows of at most max_tokens over one long block."""
        offsets = encoding.offsets
        total = len(offsets)
        scores = _cut_scores(text, encoding)
        pieces = []
        start = 0
        while True:
            end = total if total - start <= self.max_tokens else self._window_end(scores, start)
            piece = text[offsets[start][0] : offsets[end - 1][1]]
            # Only a cut inside an over-long word can change how the piece
            # tokenizes; shrink until the real count fits.
            while end - start > 1 and self.count(piece) > self.max_tokens:
                end -= 1
                piece = text[offsets[start][0] : offsets[end - 1][1]]
            pieces.append(piece.strip())
            if end >= total:
                return pieces
            start = self._next_start(scores, start, end)

    def _window_end(self, scores: list[int], start: int) -> int:
        """Where to cut after `start`: the best boundary in the window's second half, the
        latest on a tie; in the first half only when the second half is inside one word."""
        limit = start + self.max_tokens
        best, best_score = limit, scores[limit]
        for index in range(limit - 1, start, -1):
            if best_score > 0 and index <= start + self.max_tokens // 2:
                break
            if scores[index] > best_score:
                best, best_score = index, scores[index]
        return best

    def _next_start(self, scores: list[int], start: int, end: int) -> int:
        """Start of the next window, up to overlap_tokens back from `end`: a sentence or line
        start in the overlap's first half if there is one, else the earliest space, else the
        earliest word; `end` itself (no overlap) when one word fills the overlap."""
        if self.overlap_tokens == 0:
            return end
        earliest = max(end - self.overlap_tokens, start + 1)
        middle = (earliest + end) // 2
        region = range(earliest, end)
        for index in region:
            if scores[index] >= 3 and index <= middle:
                return index
        for minimum in (2, 1):
            for index in region:
                if scores[index] >= minimum:
                    return index
        return end


def _cut_scores(text: str, encoding: Encoding) -> list[int]:
    """How good a place to cut just before each token is: 0 never (inside a word, or
    before the first token), 1 between a word and punctuation, 2 at a space, 3 after
    a sentence, 4 at a line break."""
    # Encoding's properties build a new list on every access: read each once.
    words, offsets, tokens = encoding.word_ids, encoding.offsets, encoding.tokens
    scores = [0]
    for index in range(1, len(offsets)):
        gap = text[offsets[index - 1][1] : offsets[index][0]]
        if words[index] == words[index - 1]:
            scores.append(0)
        elif "\n" in gap:
            scores.append(4)
        elif gap and tokens[index - 1] in _SENTENCE_ENDS:
            scores.append(3)
        else:
            scores.append(2 if gap else 1)
    return scores
