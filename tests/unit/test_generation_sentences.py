from services.generation.sentences import SentenceBuffer


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
