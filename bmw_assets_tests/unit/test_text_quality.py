"""token_prf on hand-computed cases."""

import pytest

from bmw_assets.text.quality import PRF, token_prf, word_tokens


def test_tokens_are_lowercased_unicode_words_without_punctuation():
    assert word_tokens("Plug-in hybrids, e.g. the BMW X5: 25 km (WLTP); Fahrzeugüberführung!") == [
        "plug",
        "in",
        "hybrids",
        "e",
        "g",
        "the",
        "bmw",
        "x5",
        "25",
        "km",
        "wltp",
        "fahrzeugüberführung",
    ]


def test_identical_texts_score_one_whatever_the_whitespace_and_case():
    assert token_prf("The new BMW  X3.\n\nIt is here.", "the new bmw x3 it is here") == PRF(1.0, 1.0, 1.0)


def test_extra_and_missing_tokens_hand_computed():
    # candidate: a b c d (4); reference: a b e (3); overlap a b = 2
    prf = token_prf("a b c d", "a b e")
    assert prf.precision == pytest.approx(2 / 4)
    assert prf.recall == pytest.approx(2 / 3)
    assert prf.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))  # 4/7


def test_overlap_is_a_bag_not_a_set():
    # candidate has "the" x3, reference x1: only one copy matches
    prf = token_prf("the the the car", "the car")
    assert prf.precision == pytest.approx(2 / 4)
    assert prf.recall == pytest.approx(1.0)
    assert prf.f1 == pytest.approx(2 / 3)


def test_edge_cases_empty():
    assert token_prf("", "") == PRF(1.0, 1.0, 1.0)
    assert token_prf("  ...  ", "\n") == PRF(1.0, 1.0, 1.0)  # punctuation only: no tokens either
    assert token_prf("", "body") == PRF(0.0, 0.0, 0.0)
    assert token_prf("body", "") == PRF(0.0, 0.0, 0.0)
    assert token_prf("alpha", "beta") == PRF(0.0, 0.0, 0.0)
