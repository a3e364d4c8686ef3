from dataclasses import replace

from ragline.v1 import common_pb2, retrieval_pb2
from services.generation.extractive import LABEL, MODEL, ExtractiveAnswerer
from services.generation.prompts import ExtractiveSelection, load_prompt

PROMPT = load_prompt("answer@v2")


def hit(chunk_id: str, text: str) -> retrieval_pb2.SearchHit:
    return retrieval_pb2.SearchHit(
        chunk_id=chunk_id, document_id=f"doc-{chunk_id}", text=text, provenance=common_pb2.Provenance(title=chunk_id)
    )


PASSAGES = [
    hit("holidays", "Employees get 25 days of paid holiday per year. Unused days expire in March."),
    hit(
        "passwords",
        "The office opens at 8am. Passwords must be changed every 90 days. "
        "A password needs at least 14 characters.",
    ),
    hit("expenses", "Expenses are reimbursed within 30 days of approval."),
]


def test_picks_the_matching_sentence_and_cites_its_passage():
    one_sentence = replace(PROMPT, extractive=ExtractiveSelection(max_sentences=1, min_coverage=0.3))
    draft = ExtractiveAnswerer().answer("How often must passwords be changed?", PASSAGES, one_sentence, 0)

    assert not draft.refused
    assert draft.text == f"{LABEL} Passwords must be changed every 90 days. [2]"
    assert draft.citations == (2,)
    assert draft.model == MODEL
    assert draft.prompt_version == "answer@v2"


def test_answer_is_labelled_as_extractive_and_cites_every_sentence():
    question = "How many characters must a password have, and how often must passwords be changed?"

    draft = ExtractiveAnswerer().answer(question, PASSAGES, PROMPT, 0)

    assert draft.text.startswith("Extractive answer (no language model configured):")
    assert "A password needs at least 14 characters. [2]" in draft.text
    assert "Passwords must be changed every 90 days. [2]" in draft.text
    # The unrelated sentence of the same passage is not quoted.
    assert "office" not in draft.text
    assert draft.citations == (2,)


def test_cites_each_sentence_with_the_passage_it_came_from():
    draft = ExtractiveAnswerer().answer("When are expenses reimbursed and when do holiday days expire?", PASSAGES, PROMPT, 0)

    assert "Expenses are reimbursed within 30 days of approval. [3]" in draft.text
    assert "Unused days expire in March. [1]" in draft.text
    assert draft.citations == (1, 3)


def test_refuses_when_no_passage_overlaps_the_question():
    draft = ExtractiveAnswerer().answer("Who won the football world cup?", PASSAGES, PROMPT, 0)

    assert draft.refused
    assert draft.refusal_reason == "No passage you may read answers this question."
    assert draft.text == ""
    assert draft.citations == ()


def test_refuses_without_passages_or_content_words():
    assert ExtractiveAnswerer().answer("How often must passwords be changed?", [], PROMPT, 0).refused
    assert ExtractiveAnswerer().answer("What is it?", PASSAGES, PROMPT, 0).refused


def test_stream_yields_the_answer_sentence_by_sentence_and_returns_the_draft():
    answerer = ExtractiveAnswerer()
    question = "How many characters must a password have, and how often must passwords be changed?"
    stream = answerer.stream(question, PASSAGES, PROMPT, 0)
    pieces = []
    try:
        while True:
            pieces.append(next(stream))
    except StopIteration as end:
        draft = end.value

    assert pieces[0] == LABEL
    assert len(pieces) == 3
    assert "".join(pieces) == draft.text == answerer.answer(question, PASSAGES, PROMPT, 0).text


def test_duplicate_sentences_from_two_chunks_are_quoted_once():
    passages = [hit(chunk_id, "Passwords must be changed every 90 days.") for chunk_id in ("a", "b")]

    draft = ExtractiveAnswerer().answer("How often must passwords be changed?", passages, PROMPT, 0)

    assert draft.text.count("90 days") == 1
    assert draft.citations == (1,)


def test_a_sentence_much_weaker_than_the_best_is_not_quoted():
    passages = [
        hit("a", "Passwords must be changed every 90 days."),
        hit("b", "Shared passwords are forbidden."),
    ]

    draft = ExtractiveAnswerer().answer("How often must passwords be changed?", passages, PROMPT, 0)

    assert "forbidden" not in draft.text
    assert draft.citations == (1,)


def test_the_sentence_sharing_the_rare_words_comes_before_one_sharing_the_product_name():
    passages = [
        hit("c1", "The NW-7 docks itself when its charge falls below 20 %. The NW-7 weighs 140 kg."),
        hit("c2", "Battery life: 10 hours of continuous picking on one charge."),
        hit("c3", "The NW-7 Picker ships with a two-year warranty."),
    ]
    draft = ExtractiveAnswerer().answer("How long does the NW-7 battery last on one charge?", passages, PROMPT, 0)
    assert draft.text.startswith(f"{LABEL} Battery life: 10 hours of continuous picking on one charge. [2]")


def test_the_prompt_version_sets_how_demanding_the_selection_is():
    strict = replace(PROMPT, extractive=ExtractiveSelection(max_sentences=3, min_coverage=1.0))
    question = "How often must passwords and secrets be changed?"

    assert not ExtractiveAnswerer().answer(question, PASSAGES, PROMPT, 0).refused
    refused = ExtractiveAnswerer().answer(question, PASSAGES, strict, 0)
    assert refused.refused and refused.prompt_version == "answer@v2"
