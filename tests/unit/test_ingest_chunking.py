"""Chunking with the model's real tokenizer: bounds, packing, overlap, clean cuts."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ragline import minilm
from services.ingest.chunking import Chunker
from services.ingest.parsing import Block, BlockKind, parse

CORPUS = Path(__file__).resolve().parents[2] / "samples" / "corpus"
SAMPLES = {
    "nw7-picker-spec.md": "text/markdown",
    "oncall-runbook.md": "text/markdown",
    "security-vpn-policy.html": "text/html",
    "leave-policy.txt": "text/plain",
    "onboarding-faq.txt": "text/plain",
    "expense-policy.pdf": "application/pdf",
}

tokenizer = minilm.load_tokenizer()
tokenizer.no_truncation()


def tokens(text: str) -> int:
    """Counted independently of the chunker, without [CLS]/[SEP]."""
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


def prose(words: int, seed: int = 7) -> str:
    vocabulary = (
        "the robot lifts totes from shelving and carries them to packing stations while the fleet manager "
        "plans routes through narrow aisles; unaffable antidisestablishmentarianism x-ray don't NW-7."
    ).split()
    rng = random.Random(seed)
    sentences = []
    while sum(len(s.split()) for s in sentences) < words:
        sentence = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(6, 18)))
        sentences.append(sentence.capitalize() + rng.choice([".", "!", "?"]))
    return " ".join(sentences)


def located(text: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Where each piece sits in `text`, searching forward from the previous piece's start."""
    spans, position = [], 0
    for piece in pieces:
        start = text.index(piece, position)
        spans.append((start, start + len(piece)))
        position = start + 1
    return spans


@pytest.mark.parametrize("max_tokens,overlap", [(200, 30), (64, 16), (32, 0), (254, 127)])
def test_no_chunk_of_any_sample_exceeds_the_limit(max_tokens, overlap):
    chunker = Chunker(minilm.load_tokenizer(), max_tokens, overlap)
    for name, kind in SAMPLES.items():
        chunks = chunker.chunk(parse(kind, (CORPUS / name).read_bytes()))
        assert chunks, name
        for chunk in chunks:
            assert 0 < tokens(chunk.text) <= max_tokens, (name, chunk.text)


def test_limit_holds_for_long_prose_code_and_unbroken_strings():
    chunker = Chunker(minilm.load_tokenizer(), 40, 10)
    blocks = [
        Block((), prose(2000), BlockKind.PARAGRAPH),
        Block((), "\n".join(f"step_{i} = compute(step_{i - 1}) * 0x{i:08x}" for i in range(1, 200)), BlockKind.CODE),
        Block((), "ab3f" * 400 + " " + "λx.λy." * 200, BlockKind.PARAGRAPH),
    ]
    for chunk in chunker.chunk(blocks):
        assert 0 < tokens(chunk.text) <= 40


def test_consecutive_blocks_of_one_section_are_packed_and_sections_never_mix():
    chunker = Chunker(minilm.load_tokenizer(), 200, 30)
    blocks = [
        Block(("Guide",), "First paragraph.", BlockKind.PARAGRAPH),
        Block(("Guide",), "- one\n- two", BlockKind.LIST),
        Block(("Guide", "Setup"), "Setting | Default\nport | 8080", BlockKind.TABLE),
        Block(("Guide", "Setup"), "Run it.", BlockKind.PARAGRAPH),
        Block(("Other",), "Elsewhere.", BlockKind.PARAGRAPH),
    ]
    chunks = chunker.chunk(blocks)
    assert [(c.heading_path, c.text, c.blocks) for c in chunks] == [
        (("Guide",), "First paragraph.\n\n- one\n- two", (0, 1)),
        (("Guide", "Setup"), "Setting | Default\nport | 8080\n\nRun it.", (2, 3)),
        (("Other",), "Elsewhere.", (4,)),
    ]


def test_packing_stops_at_the_limit_and_counts_exactly():
    sentence = "The robot carries one tote to the packing station."
    size = tokens(sentence)
    chunker = Chunker(minilm.load_tokenizer(), 5 * size, 10)
    chunks = chunker.chunk([Block(("S",), sentence, BlockKind.PARAGRAPH)] * 12)
    # Five blocks fill the limit exactly: the separator adds no token.
    assert [len(c.blocks) for c in chunks] == [5, 5, 2]
    assert [tokens(c.text) for c in chunks] == [5 * size, 5 * size, 2 * size]


def test_pages_are_not_packed_together():
    chunker = Chunker(minilm.load_tokenizer(), 200, 30)
    pages = [Block((), "Page one.", BlockKind.PARAGRAPH, 1), Block((), "Page two.", BlockKind.PARAGRAPH, 2)]
    chunks = chunker.chunk(pages)
    assert [(c.page, c.text) for c in chunks] == [(1, "Page one."), (2, "Page two.")]


def test_a_long_block_is_cut_into_overlapping_windows_covering_it_at_word_boundaries():
    text = prose(1500)
    chunker = Chunker(minilm.load_tokenizer(), 60, 15)
    chunks = chunker.chunk([Block(("Long",), text, BlockKind.PARAGRAPH)])
    assert len(chunks) > 10
    assert all(c.heading_path == ("Long",) and c.blocks == (0,) for c in chunks)
    spans = located(text, [c.text for c in chunks])
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    for (start, end), (next_start, _) in zip(spans, spans[1:]):
        assert next_start < end, "consecutive windows overlap"
        overlap = tokens(text[next_start:end])
        assert 0 < overlap <= 15
    for start, end in spans:
        assert start == 0 or text[start - 1] == " ", "a window starts at a word"
        assert end == len(text) or text[end] == " ", "a window ends at a word"
    # Most windows end a sentence when one is in reach.
    assert sum(c.text[-1] in ".!?" for c in chunks[:-1]) >= 0.8 * (len(chunks) - 1)


def test_a_long_table_is_cut_between_rows_and_the_overlap_repeats_whole_rows():
    rows = ["Robot | Site | Status"] + [f"NW-7-{i:03d} | Rotterdam hall {i % 4} | picking" for i in range(80)]
    chunker = Chunker(minilm.load_tokenizer(), 100, 30)
    chunks = chunker.chunk([Block(("Fleet",), "\n".join(rows), BlockKind.TABLE)])
    assert len(chunks) > 3
    for chunk in chunks:
        assert all(line in rows for line in chunk.text.split("\n")), "no row is cut"
    for chunk, following in zip(chunks, chunks[1:]):
        assert following.text.split("\n")[0] in chunk.text.split("\n"), "the next window repeats the last row(s)"


def test_without_overlap_the_windows_tile_the_block():
    text = prose(800, seed=3)
    chunks = Chunker(minilm.load_tokenizer(), 50, 0).chunk([Block((), text, BlockKind.PARAGRAPH)])
    assert " ".join(c.text for c in chunks) == text


def test_blocks_without_tokens_are_skipped():
    blocks = [Block((), "\u200b", BlockKind.PARAGRAPH), Block((), "Text.", BlockKind.PARAGRAPH)]
    chunks = Chunker(minilm.load_tokenizer(), 50, 0).chunk(blocks)
    assert [c.text for c in chunks] == ["Text."]


@pytest.mark.parametrize("max_tokens,overlap", [(1, 0), (50, 26), (50, -1)])
def test_unworkable_settings_are_refused(max_tokens, overlap):
    with pytest.raises(ValueError):
        Chunker(minilm.load_tokenizer(), max_tokens, overlap)
