"""Answer length limits, cache key parts and the chat answerer's refusals: the rules without servers."""

from typing import Generator

import pytest

from ragline.auth import Principal
from ragline.config import ConfigError
from ragline.v1 import retrieval_pb2
from services.generation.answer_cache import access_scope, normalize_question
from services.generation.answer_policy import POLICY_FILE, AnswerPolicies, AnswerPolicy
from services.generation.answerer import UNCITED
from services.generation.chat_model import ChatModelAnswerer
from services.generation.model_router import Completion
from services.generation.prompts import load_prompt
from services.generation.sentences import cut_to_sentences, without_unfinished_sentence

PASSAGES = [retrieval_pb2.SearchHit(chunk_id=f"c{n}", text=f"Passage {n}.") for n in (1, 2)]


def test_policies_per_tenant_override_the_default(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text("[default]\nmax_answer_chars = 900\n[tenants.acme]\nmax_answer_tokens = 100\n")

    policies = AnswerPolicies.load(path)

    assert policies.for_tenant("globex") == AnswerPolicy(max_answer_chars=900, max_answer_tokens=800)
    assert policies.for_tenant("acme") == AnswerPolicy(max_answer_chars=900, max_answer_tokens=100)
    assert AnswerPolicies.load(POLICY_FILE).for_tenant("any") == AnswerPolicy()


@pytest.mark.parametrize(
    ("body", "message"),
    [("[default]\nmax_answer_chars = 0\n", "at least 1"), ("[tenants.acme]\nmax_words = 3\n", "unknown settings")],
)
def test_a_bad_policy_stops_the_service(tmp_path, body, message):
    path = tmp_path / "policy.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message):
        AnswerPolicies.load(path)


def test_a_cut_keeps_whole_sentences_with_their_citation_markers():
    text = "Passwords rotate every 90 days. [2] Holidays are 25 days [1]. Backups run nightly."

    assert cut_to_sentences(text, 200) == text
    assert cut_to_sentences(text, 61) == "Passwords rotate every 90 days. [2] Holidays are 25 days [1]."
    assert cut_to_sentences(text, 40) == "Passwords rotate every 90 days. [2]"
    assert cut_to_sentences(text, 20) == "Passwords rotate…"
    assert cut_to_sentences(text, 20, mid_sentence=False) == ""
    assert without_unfinished_sentence("Passwords rotate [2]. Holidays are") == "Passwords rotate [2]."
    assert without_unfinished_sentence("Holidays are") == ""


def test_the_same_question_typed_differently_is_one_cache_entry():
    assert normalize_question("  How LONG is the  battery life?? ") == normalize_question("how long is the battery life")
    assert normalize_question("ＮＷ-７ range?") == normalize_question("nw-7 range")
    assert normalize_question("battery life of the NW-7") != normalize_question("battery life of the NW-8")


def test_callers_share_an_access_scope_only_when_they_may_read_the_same_passages():
    alice = Principal("user:alice", "acme", ("eng", "all"), 2)

    assert access_scope(alice) == access_scope(Principal("user:alice", "acme", ("all", "eng", "eng"), 2))
    others = [
        Principal("user:bob", "acme", ("eng", "all"), 2),  # access lists name users
        Principal("user:alice", "acme", ("eng",), 2),
        Principal("user:alice", "acme", ("eng", "all"), 3),
    ]
    assert access_scope(alice) not in {access_scope(other) for other in others}


class ScriptedRouter:
    """Returns fixed text in the router's shape (the HTTP side is in the integration tests)."""

    def __init__(self, pieces: list[str]):
        self.pieces = pieces
        self.max_tokens: list[int] = []

    def completion(self) -> Completion:
        return Completion("".join(self.pieces), "local", "model-x", 50, 9, "stop")

    def complete(self, messages, max_tokens) -> Completion:
        self.max_tokens.append(max_tokens)
        return self.completion()

    def stream(self, messages, max_tokens) -> Generator[str, None, Completion]:
        self.max_tokens.append(max_tokens)
        yield from self.pieces
        return self.completion()


def streamed(answerer, prompt):
    stream = answerer.stream("Q?", PASSAGES, prompt, 300)
    pieces = []
    try:
        while True:
            pieces.append(next(stream))
    except StopIteration as end:
        return pieces, end.value


def test_a_reply_with_the_refusal_marker_is_a_refusal_with_the_models_reason_and_never_streams():
    prompt = load_prompt("answer@v2")
    pieces = ["NO_", "ANSWER: the passages", " do not mention parking."]

    draft = ChatModelAnswerer(ScriptedRouter(pieces)).answer("Q?", PASSAGES, prompt, 300)
    sent, streamed_draft = streamed(ChatModelAnswerer(ScriptedRouter(pieces)), prompt)

    assert draft.refused and draft.text == "" and draft.citations == ()
    assert draft.refusal_reason == "The passages do not support an answer: the passages do not mention parking."
    assert sent == [] and streamed_draft == draft
    assert (draft.prompt_tokens, draft.completion_tokens, draft.endpoint) == (50, 9, "local")


def test_text_that_only_starts_like_the_marker_streams_unchanged():
    pieces = ["NO", " parking is needed [1]."]

    sent, draft = streamed(ChatModelAnswerer(ScriptedRouter(pieces)), load_prompt("answer@v2"))

    assert "".join(sent) == draft.text == "NO parking is needed [1]."
    assert not draft.refused and draft.citations == (1,)


def test_a_reply_that_cites_no_passage_is_refused_as_unsupported():
    router = ScriptedRouter(["I think it is probably 42."])

    draft = ChatModelAnswerer(router).answer("Q?", PASSAGES, load_prompt("answer@v1"), 300)

    assert draft.refused and draft.refusal_reason == UNCITED and draft.text == ""
    assert router.max_tokens == [300]
