from services.generation.sentences import SentenceBuffer, passage_sentences


def test_text_is_released_only_in_whole_sentences():
    buffer = SentenceBuffer()

    assert buffer.add("Passwords expire") == ""
    assert buffer.add(" after 90 days [2]. Use") == "Passwords expire after 90 days [2]. "
    assert buffer.add(" 14 characters.") == ""
    assert buffer.drain() == "Use 14 characters."
    assert buffer.drain() == ""


def test_line_breaks_end_a_segment():
    buffer = SentenceBuffer()

    assert buffer.add("- first item\n- second") == "- first item\n"


def test_long_text_without_sentence_end_is_cut_at_a_space():
    buffer = SentenceBuffer(max_chars=20)

    released = buffer.add("one two three four five six")

    assert released == "one two three four five "
    assert buffer.drain() == "six"


def statements(text: str) -> list[tuple[str, str, str]]:
    return [(s.text, s.topic, s.columns) for s in passage_sentences(text)]


def test_lines_wrapped_mid_sentence_are_joined_and_short_headings_become_topics():
    text = (
        "3. Hotels\n"
        "Hotel costs are reimbursed up to 160 EUR per night, including taxes. In London,\n"
        "Paris and New York the cap is 220 EUR per night.\n"
        "4. Transport\n"
        "Trains are the default for journeys under 5 hours."
    )

    assert statements(text) == [
        ("Hotel costs are reimbursed up to 160 EUR per night, including taxes.", "Hotels", ""),
        ("In London, Paris and New York the cap is 220 EUR per night.", "Hotels", ""),
        ("Trains are the default for journeys under 5 hours.", "Transport", ""),
    ]


def test_a_short_line_that_ends_its_sentence_is_not_joined_to_the_next():
    text = "Sick leave is paid in full for up to 30 days per year and must be reported to your manager.\nTell HR too."

    assert [s.text for s in passage_sentences(text)] == [
        "Sick leave is paid in full for up to 30 days per year and must be reported to your manager.",
        "Tell HR too.",
    ]


def test_table_rows_are_statements_named_by_the_header_row():
    text = "Zone | Required equipment\nCharging bay | Face shield, gloves and apron\nLoading dock | Vest, safety shoes"

    assert statements(text) == [
        ("Charging bay | Face shield, gloves and apron", "", "Zone | Required equipment"),
        ("Loading dock | Vest, safety shoes", "", "Zone | Required equipment"),
    ]


def test_faq_questions_are_topics_and_even_a_short_answer_is_a_statement():
    text = "Q: How long is the probation period?\nA: Six months.\n\nQ: When is salary paid?\nA: On the 25th of every month."

    assert statements(text) == [
        ("Six months.", "How long is the probation period?", ""),
        ("On the 25th of every month.", "When is salary paid?", ""),
    ]


def test_sub_items_that_finish_their_items_sentence_are_joined_and_list_markers_dropped():
    text = (
        "- Never install VPN profiles on personal devices. Phones may use webmail only with\n"
        "  - a passcode of at least 6 digits, and\n"
        "  - an operating system updated within 30 days.\n"
        "- Split tunnelling is disabled."
    )

    assert [s.text for s in passage_sentences(text)] == [
        "Never install VPN profiles on personal devices.",
        "Phones may use webmail only with a passcode of at least 6 digits, and an operating system updated within 30 days.",
        "Split tunnelling is disabled.",
    ]


def test_aligned_lines_stay_whole_and_apart():
    text = (
        "fleetctl drain --site <site-id> --reason   # stop assigning new tasks before a deploy\n"
        "fleetctl rollback fleet-manager            # return to the previous release"
    )

    assert [s.text for s in passage_sentences(text)] == [
        "fleetctl drain --site <site-id> --reason # stop assigning new tasks before a deploy",
        "fleetctl rollback fleet-manager # return to the previous release",
    ]
