"""The shipped eval set is right about the corpus, and the metrics score what they claim.

No servers: the labels are checked against the documents as ingest parses them
and against the manifest's access lists, so a wrong phrase or a wrong access
assumption fails here rather than as a silently lower score.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ragline.cli import corpus
from ragline.cli.eval import (
    CLEARANCES, DEFAULT_SET, EvalQuestion, EvalSet, EvalSetError, Evidence, QuestionResult, Thresholds, answer_sentences,
    ndcg_at, recall_at, score_answer, summarize, supported,
)
from ragline.config import repo_root
from ragline.v1 import generation_pb2, retrieval_pb2
from services.ingest.parsing import parse

EVAL_SET = EvalSet.load(DEFAULT_SET)
_, SPECS = corpus.specs_from_manifest(EVAL_SET.manifest)
DOCUMENTS = {spec.document_id: spec for spec in SPECS}


def _parsed_text(document_id: str) -> str:
    spec = DOCUMENTS[document_id]
    return "\n".join(block.text for block in parse(corpus.MIME_TYPES[spec.path.suffix.lower()], spec.path.read_bytes()))


TEXTS = {document_id: _parsed_text(document_id) for document_id in DOCUMENTS}


def _may_read(asker_name: str, document_id: str) -> bool:
    asker, spec = EVAL_SET.askers[asker_name], DOCUMENTS[document_id]
    return bool(set(asker.groups) & set(spec.groups)) and CLEARANCES.index(spec.sensitivity) <= CLEARANCES.index(asker.clearance)


def test_the_set_is_the_size_the_readme_says_and_covers_every_document():
    answerable = [q for q in EVAL_SET.questions if q.answerable]
    assert (len(answerable), len(EVAL_SET.questions) - len(answerable)) == (54, 15)
    assert {item.document for q in answerable for item in q.evidence} == set(DOCUMENTS)
    assert {q.unanswerable for q in EVAL_SET.questions if not q.answerable} == {"not in the corpus", "no access"}


@pytest.mark.parametrize("question", [q for q in EVAL_SET.questions if q.answerable], ids=lambda q: q.id)
def test_every_evidence_phrase_is_in_its_document_which_the_asker_may_read(question: EvalQuestion):
    for item in question.evidence:
        assert item.found_in(item.document, TEXTS[item.document]), f"{item.phrase!r} is not in {item.document}"
        assert _may_read(question.asked_as, item.document), f"{question.asked_as} may not read {item.document}"


@pytest.mark.parametrize("question", [q for q in EVAL_SET.questions if q.unanswerable == "no access"], ids=lambda q: q.id)
def test_no_access_questions_are_asked_by_someone_who_may_not_read_the_answer(question: EvalQuestion):
    assert question.document in DOCUMENTS
    assert not _may_read(question.asked_as, question.document)


def test_a_malformed_set_is_refused_with_the_question_named(tmp_path: Path):
    bad = tmp_path / "set.toml"
    bad.write_text(
        '[principals.staff]\ngroups = ["all-staff"]\nclearance = "internal"\n'
        '[[question]]\nid = "q1"\nasked_as = "staff"\nquestion = "?"\nunanswerable = "maybe"\n'
    )
    with pytest.raises(EvalSetError, match="'q1'.*unanswerable must be one of"):
        EvalSet.load(bad)


def _hit(document_id: str, text: str) -> retrieval_pb2.SearchHit:
    return retrieval_pb2.SearchHit(document_id=document_id, text=text)


QUESTION = EvalQuestion(
    "q", "staff", "?", reference="10 hours on one charge",
    evidence=(Evidence("spec", "10 hours"), Evidence("faq", "charging dock")),
)


def test_recall_and_ndcg_credit_each_evidence_item_once_whatever_the_chunking():
    noise, battery, dock = _hit("spec", "payload 35 kg"), _hit("spec", "lasts 10  HOURS"), _hit("faq", "the Charging\ndock")
    assert recall_at(QUESTION, [noise, battery, dock], k=2) == 0.5
    assert recall_at(QUESTION, [battery, dock], k=2) == 1.0
    # The right phrase in the wrong document is not evidence.
    assert recall_at(QUESTION, [_hit("faq", "10 hours")], k=5) == 0.0
    assert ndcg_at(QUESTION, [battery, dock]) == pytest.approx(1.0)
    assert ndcg_at(QUESTION, [battery, battery, dock]) < ndcg_at(QUESTION, [battery, dock, battery])
    # (1/log2(3) + 1/log2(4)) / (1 + 1/log2(3)): both items found, one rank late each.
    assert ndcg_at(QUESTION, [noise, battery, dock]) == pytest.approx(0.693, abs=1e-3)


def test_sentences_take_the_markers_written_after_their_full_stop():
    text = "Extractive answer (no language model configured): It lasts 10 hours. [1] Docks below 20 %. [2][3] Ends"
    assert answer_sentences(text) == [" It lasts 10 hours. [1]", "Docks below 20 %. [2][3]", "Ends"]


def _citation(index: int, document_id: str, snippet: str) -> generation_pb2.Citation:
    return generation_pb2.Citation(index=index, document_id=document_id, snippet=snippet)


def test_a_sentence_is_supported_only_by_the_passages_it_cites():
    citations = [_citation(1, "spec", "The battery lasts 10 hours on one charge."), _citation(2, "faq", "Salary is paid on the 25th.")]
    assert supported("The battery lasts 10 hours. [1]", citations)
    assert not supported("The battery lasts 10 hours. [2]", citations)
    assert not supported("The battery lasts 14 hours on solar power. [1]", citations)
    assert supported("Salary is paid on the 25th.", citations)  # no marker: any cited passage
    assert not supported("The battery lasts 10 hours.", [])


def test_scores_punish_answering_the_unanswerable_and_refusing_the_answerable():
    unanswerable = EvalQuestion("u", "staff", "?", unanswerable="not in the corpus")
    guessed = generation_pb2.AnswerResponse(text="It lasts 10 hours. [1]", citations=[_citation(1, "spec", "It lasts 10 hours.")])
    refused = generation_pb2.AnswerResponse(refused=True, refusal_reason="No passage")
    right = generation_pb2.AnswerResponse(text="It lasts 10 hours on one charge. [1]", citations=[_citation(1, "spec", "It lasts 10 hours on one charge.")])
    results = []
    for question, answer in [(unanswerable, guessed), (QUESTION, refused), (QUESTION, right)]:
        result = QuestionResult(question.id, question.answerable, recall_at_k=1.0, ndcg_at_10=1.0, latency_ms=10.0)
        score_answer(question, answer, result)
        results.append(result)
    metrics = summarize(results)
    assert metrics["refusal_accuracy"] == 0.0
    assert metrics["answer_rate"] == 0.5
    assert metrics["citation_precision"] == 0.5  # the guess cites an irrelevant chunk, the right answer a relevant one
    assert metrics["faithfulness"] == 1.0
    assert metrics["reference_recall"] == 0.5


def test_thresholds_name_the_metric_and_the_shortfall(tmp_path: Path):
    path = tmp_path / "thresholds.toml"
    path.write_text("[minimum]\nrefusal_accuracy = 0.5\n[maximum]\nlatency_p95_ms = 100\n")
    thresholds = Thresholds.load(path)
    failures = thresholds.failures("answer@v9", {"refusal_accuracy": 0.2, "latency_p95_ms": 150.0})
    assert failures == [
        "answer@v9: refusal_accuracy 0.200 is below the minimum 0.500 by 0.300",
        "answer@v9: latency_p95_ms 150.0 is above the maximum 100.0 by 50.0",
    ]
    assert thresholds.failures("answer@v2", {"refusal_accuracy": 0.5, "latency_p95_ms": 99.0}) == []
    path.write_text("[minimum]\nlatency_p95_ms = 1\n")
    with pytest.raises(EvalSetError, match="not metrics of their section"):
        Thresholds.load(path)


def test_a_version_published_before_a_minimum_was_raised_keeps_its_own_floor(tmp_path: Path):
    path = tmp_path / "thresholds.toml"
    path.write_text('[minimum]\nrefusal_accuracy = 0.9\nanswer_rate = 0.9\n[version."answer@v2".minimum]\nrefusal_accuracy = 0.3\n')
    thresholds = Thresholds.load(path)
    metrics = {"refusal_accuracy": 0.4, "answer_rate": 0.8}
    assert thresholds.failures("answer@v2", metrics) == ["answer@v2: answer_rate 0.800 is below the minimum 0.900 by 0.100"]
    assert len(thresholds.failures("answer@v3", metrics)) == 2
    path.write_text('[minimum]\nanswer_rate = 0.9\n[version."answer@v2".minimum]\nrefusal_accuracy = 0.3\n')
    with pytest.raises(EvalSetError, match="version.answer@v2.refusal_accuracy"):
        Thresholds.load(path)


def test_the_committed_thresholds_load():
    assert Thresholds.load(repo_root() / "evals" / "thresholds.toml").minimum
