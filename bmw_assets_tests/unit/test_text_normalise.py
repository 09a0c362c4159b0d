"""Character folding, hyphenation rejoin and paragraph rebuilding."""

from bmw_assets.text.normalise import (
    normalise_characters,
    rebuild_paragraphs,
    rejoin_hyphenated,
)


def test_ligatures_spaces_and_invisible_characters_are_folded_but_subscripts_kept():
    raw = "The ﬁrst ﬂeet\u00a0of\u202fe\ufb00ective\u200b cars emits 0 g CO₂ per km² \r\n  next\tline  "
    assert normalise_characters(raw) == "The first fleet of effective cars emits 0 g CO₂ per km²\nnext line"


def test_soft_hyphens_vanish_and_join_words_split_at_a_line_end():
    assert normalise_characters("Elektro\u00admobilität and charg\u00ad\ning") == "Elektromobilität and charging"


def test_page_breaks_become_line_breaks():
    assert normalise_characters("end of page one\fstart of page two") == "end of page one\nstart of page two"


def test_rejoin_drops_the_hyphen_of_a_split_word():
    assert rejoin_hyphenated("the new elec-\ntric motor is quiet") == "the new electric\nmotor is quiet"


def test_rejoin_keeps_the_hyphen_of_compounds():
    # one-letter prefix, digit, capitalised right part, and a spelling the document uses elsewhere
    assert rejoin_hyphenated("the e-\nmobility era") == "the e-mobility\nera"
    assert rejoin_hyphenated("a 48-\nvolt system") == "a 48-volt\nsystem"
    assert rejoin_hyphenated("Rolls-\nRoyce cars") == "Rolls-Royce\ncars"
    text = "Every plug-in hybrid counts. The new plug-\nin hybrid arrives."
    assert rejoin_hyphenated(text) == "Every plug-in hybrid counts. The new plug-in\nhybrid arrives."


def test_rejoin_leaves_hyphens_inside_a_line_alone():
    text = "plug-in hybrids and e-mobility and long-term thinking"
    assert rejoin_hyphenated(text) == text


def test_rejoin_of_a_word_alone_on_its_line_creates_no_blank_line():
    assert rejoin_hyphenated("a produc-\ntion\nline") == "a production\nline"


def test_paragraphs_rebuilt_from_wrapped_lines():
    lines = (
        "Munich. The new model arrives in spring with a wide range of equipment and a completely\n"
        "new operating system developed in house.\n"
        "Second paragraph starts here and it also runs over more than one line of the page so\n"
        "it wraps.\n"
        "Technical data\n"
        "The third paragraph follows the heading and is a single long line that fills the page.\n"
    )
    assert rebuild_paragraphs(normalise_characters(lines)) == (
        "Munich. The new model arrives in spring with a wide range of equipment and a completely "
        "new operating system developed in house.\n\n"
        "Second paragraph starts here and it also runs over more than one line of the page so it wraps.\n\n"
        "Technical data\n\n"
        "The third paragraph follows the heading and is a single long line that fills the page."
    )


def test_blank_lines_and_bullets_start_paragraphs():
    text = "Intro line that is long enough to look like a full line of text.\n\nNext block\n• first item\n• second item"
    assert rebuild_paragraphs(text) == (
        "Intro line that is long enough to look like a full line of text.\n\nNext block\n\n• first item\n\n• second item"
    )


def test_a_full_line_without_closing_punctuation_runs_on_across_a_gap():
    # what is left of a page break once header and footer lines are removed
    text = (
        "The paragraph starts on one page and its last line there is as long as any other line\n\n"
        "and it finishes on the next page after the header.\n"
        "A new paragraph then starts and fills a whole line of the page with its many words here"
    )
    assert rebuild_paragraphs(text) == (
        "The paragraph starts on one page and its last line there is as long as any other line "
        "and it finishes on the next page after the header.\n\n"
        "A new paragraph then starts and fills a whole line of the page with its many words here"
    )


def test_a_word_split_across_a_page_break_is_rejoined():
    assert rejoin_hyphenated("the produc-\n\ntion line") == "the production\nline"


def test_empty_input_gives_empty_output():
    assert rebuild_paragraphs("") == ""
    assert rebuild_paragraphs("\n\n") == ""


def test_rejoin_keeps_a_genuine_hyphen_at_a_line_end_and_joins_real_splits():
    # "male" and "dominated" are words and "maledominated" is not: the hyphen belongs to the compound.
    assert rejoin_hyphenated("a male-\ndominated industry") == "a male-dominated\nindustry"
    assert rejoin_hyphenated("a long-\nterm plan") == "a long-term\nplan"
    # Halves that are not words, or a joined form that is one: a hyphenation split.
    assert rejoin_hyphenated("the produc-\ntion starts") == "the production\nstarts"
    assert rejoin_hyphenated("it some-\ntimes rains") == "it sometimes\nrains"


def test_rejoin_keeps_punctuation_on_the_joined_word():
    assert rejoin_hyphenated("Head of Manage-\nment. Next sentence") == "Head of Management.\nNext sentence"
