"""The extractive answerer's "coverage" selection (answer@v3): quote what answers, refuse what does not.

The passages are look-alikes of real retrievals: they share the product name,
the section heading or most of the question's words with the question, and
only the rarest words tell the answer from the near miss.
"""

from dataclasses import replace

from ragline.v1 import common_pb2, retrieval_pb2
from services.generation.answerer import NO_PASSAGE
from services.generation.extractive import LABEL, NOT_NAMED, ExtractiveAnswerer, names_and_numbers, question_terms, stem
from services.generation.prompts import ExtractiveSelection, load_prompt

PROMPT = load_prompt("answer@v3")
SPEC = "NW-7 Picker — Product Specification"


def hit(text: str, title: str = SPEC, headings: tuple[str, ...] = ()) -> retrieval_pb2.SearchHit:
    return retrieval_pb2.SearchHit(
        chunk_id=f"c{abs(hash(text))}", document_id="product/nw7", text=text, heading_path=list(headings),
        provenance=common_pb2.Provenance(title=title),
    )


CHARGING = hit(
    "The NW-7 docks itself at a charging dock when its charge falls below 20 %. One dock serves up to four robots per shift.",
    headings=(SPEC, "Battery and charging", "Charging"),
)
TABLE = hit(
    "Property | Value\n"
    "Battery life | 10 hours of continuous picking on one charge\n"
    "Maximum payload | 35 kg per tote\n"
    "Top speed | 2.0 m/s unloaded, 1.5 m/s loaded",
    headings=(SPEC, "Key specifications"),
)
WARRANTY = hit("The standard warranty covers 3 years or 15,000 operating hours, whichever comes first.", headings=(SPEC, "Warranty"))


def ask(question: str, passages, prompt=PROMPT):
    return ExtractiveAnswerer().answer(question, passages, prompt, 0)


def test_v3_selects_by_coverage_and_v2_stays_as_published():
    assert PROMPT.extractive.method == "coverage"
    assert load_prompt("answer@v2").extractive == ExtractiveSelection(method="overlap", max_sentences=3, min_coverage=0.3)


def test_the_row_that_states_the_answer_comes_before_a_sentence_that_only_shares_the_heading():
    # The docking sentence sits under "Battery and charging" and shares "one" and "charge";
    # the row states battery, one and charge itself.
    draft = ask("How long does the NW-7 Picker battery last on one charge?", [CHARGING, TABLE])

    assert draft.text == f"{LABEL} Battery life | 10 hours of continuous picking on one charge [2]"
    assert draft.citations == (2,)


def test_refuses_when_the_questions_rarest_words_are_in_no_passage():
    # Same product, same document, and "NW-7", "Picker" everywhere: only "price" and "purchase" say what is asked.
    draft = ask("What is the purchase price of an NW-7 Picker?", [CHARGING, TABLE, WARRANTY])

    assert draft.refused
    assert draft.refusal_reason == NO_PASSAGE
    assert draft.text == "" and draft.citations == ()


def test_the_same_passages_answer_the_question_they_do_cover():
    draft = ask("What does the standard warranty of the NW-7 cover?", [CHARGING, TABLE, WARRANTY])

    assert not draft.refused
    assert draft.text == f"{LABEL} The standard warranty covers 3 years or 15,000 operating hours, whichever comes first. [3]"


def test_a_name_no_passage_mentions_is_a_refusal_that_says_so_without_repeating_the_question():
    # "battery life" matches the row word for word; the product is another one.
    draft = ask("What is the battery life of the NW-9 Sorter?", [CHARGING, TABLE])

    assert draft.refused
    assert draft.refusal_reason == NOT_NAMED and "NW-9" not in draft.refusal_reason


def test_a_number_of_the_question_must_be_in_the_passage():
    # Every word matches but the amount: this rule is about another threshold.
    other_amount = ask("Who approves expense reports above 2,000 EUR?", [hit("Expense reports above 5,000 EUR are approved by the CFO.")])
    assert other_amount.refused
    assert other_amount.refusal_reason == NOT_NAMED
    answered = ask(
        "Who approves expense reports above 2,000 EUR?",
        [hit("Expense reports are approved by the manager. Reports above 2,000 EUR also need the Finance Director.")],
    )
    assert "Finance Director" in answered.text


def test_a_name_in_the_document_title_counts():
    # The sentence says "The standard warranty", the title says which product.
    assert not ask("What does the standard warranty of the NW-7 Picker cover?", [WARRANTY]).refused


def test_a_table_header_names_what_its_cells_state():
    runbook = "On-call and Incident Runbook"
    severities = hit(
        "Severity | Meaning | Acknowledge within\n"
        "SEV1 | Robots stopped at a customer site | 5 minutes\n"
        "SEV2 | A customer-facing feature broken | 15 minutes",
        title=runbook,
    )
    paging = hit("Acknowledge the page in the paging tool so that it does not escalate.", title=runbook)

    draft = ask("How fast must a SEV1 page be acknowledged?", [paging, severities])

    assert draft.text.startswith(f"{LABEL} SEV1 | Robots stopped at a customer site | 5 minutes [2]")


def test_a_faq_answer_is_quoted_for_its_question_and_the_question_is_not():
    faq = hit(
        "Q: How long is the probation period?\nA: Six months, with a check-in after 1, 3 and 5 months.\n\n"
        "Q: When is salary paid?\nA: On the 25th of every month, or the last working day before it.",
        title="New starter FAQ",
    )

    draft = ask("On which day of the month is salary paid?", [faq])

    assert draft.text == f"{LABEL} On the 25th of every month, or the last working day before it. [1]"


def test_a_second_sentence_only_when_nearly_as_good_and_never_past_the_limit():
    hotels = hit(
        "3. Hotels\nHotel costs are reimbursed up to 160 EUR per night, including taxes. "
        "In London and Paris the cap is 220 EUR per night. Book hotels through the travel portal.",
        title="Travel policy",
    )
    draft = ask("What is the hotel limit per night?", [hotels])

    assert draft.text == (
        f"{LABEL} Hotel costs are reimbursed up to 160 EUR per night, including taxes. [1]"
        " In London and Paris the cap is 220 EUR per night. [1]"
    )
    one = replace(PROMPT, extractive=replace(PROMPT.extractive, max_sentences=1))
    assert ask("What is the hotel limit per night?", [hotels], one).text.count("[1]") == 1


def test_the_prompt_version_sets_how_much_of_the_question_a_sentence_must_cover():
    question = "How many robots can one charging dock serve per shift at night?"
    assert not ask(question, [CHARGING]).refused
    strict = replace(PROMPT, extractive=replace(PROMPT.extractive, min_coverage=0.95))
    assert ask(question, [CHARGING], strict).refused


def test_refuses_without_passages_or_question_words():
    assert ask("What does the standard warranty cover?", []).refused
    assert ask("How is it?", [WARRANTY]).refused


def test_the_sort_of_answer_wanted_is_not_a_word_to_cover():
    assert question_terms("How long does the battery last?") == {"battery", "last"}
    assert question_terms("What kind of battery is in the NW-7?") == {"battery", "nw", "7"}


def test_names_and_numbers_are_what_is_written_with_capitals_or_digits_inside_the_question():
    assert names_and_numbers("Which Kubernetes version does the Fleet Cloud run on?") == {
        "Kubernetes": {"kubernet"}, "Fleet": {"fleet"}, "Cloud": {"cloud"},
    }
    assert names_and_numbers("How fast must a SEV1 page be acknowledged?") == {"SEV1": {"sev1"}}
    # The first word is capitalized by grammar; "I" and a redaction are no one's name.
    assert names_and_numbers("Can I write to [REDACTED:EMAIL] about it?") == {}


def test_stems_meet_across_plural_and_tense():
    assert {stem(word) for word in ("charge", "charging", "charges", "charged")} == {"charg"}
    assert stem("stopped") == stem("stops") == "stop"
    assert stem("status") == "status" and stem("call") == stem("called") == "call"


def test_the_answer_is_the_same_every_time():
    question = "How long does the NW-7 Picker battery last on one charge?"
    assert len({ask(question, [CHARGING, TABLE, WARRANTY]).text for _ in range(5)}) == 1
