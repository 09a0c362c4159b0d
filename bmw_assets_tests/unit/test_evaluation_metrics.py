"""Pure evaluation functions: entropies, AUROC, thinking split, answer matching."""

from __future__ import annotations

import math

import pytest

from bmw_assets.evaluation.fact_recall import (
    FactQuestion,
    answer_matches,
    normalize_answer,
    score_fact_recall,
)
from bmw_assets.evaluation.semantic_entropy import (
    cluster_by_meaning,
    discrete_entropy,
    entropy_auroc,
    likelihood_weighted_entropy,
)
from bmw_assets.evaluation.thinking import split_thinking


class FirstWordJudge:
    """A stand-in judge with an obvious rule, so clustering is checked on its own."""

    def __init__(self):
        self.calls = 0

    def equivalent(self, question, first, second):
        self.calls += 1
        return first.split()[0].lower() == second.split()[0].lower()


def test_clustering_joins_equivalent_answers_in_order():
    judge = FirstWordJudge()
    ids = cluster_by_meaning("q", ["Paris France", "Lyon", "paris", "Berlin", "Lyon today"], judge)
    assert ids == [0, 1, 0, 2, 1]


def test_identical_answers_skip_the_judge():
    judge = FirstWordJudge()
    assert cluster_by_meaning("q", ["same"] * 4, judge) == [0, 0, 0, 0]
    assert judge.calls == 0


def test_entropy_of_one_meaning_is_zero():
    assert discrete_entropy([0] * 10) == 0.0
    assert likelihood_weighted_entropy([0] * 10, [-1.0 * i for i in range(10)]) == 0.0


def test_entropy_of_all_different_is_log_n():
    assert discrete_entropy(list(range(10))) == pytest.approx(math.log(10))
    # equal likelihoods: the weighted entropy is the discrete one
    assert likelihood_weighted_entropy(list(range(10)), [-3.0] * 10) == pytest.approx(math.log(10))


def test_discrete_entropy_hand_case():
    # clusters of 2 and 1: -(2/3 ln 2/3 + 1/3 ln 1/3)
    assert discrete_entropy([0, 0, 1]) == pytest.approx(0.6365141682948128)


def test_likelihood_weighted_entropy_hand_case():
    # p(cluster 0) = (e^-1 + e^-2) / (e^-1 + e^-2 + e^-3), cluster 1 takes the rest
    log_likelihoods = [-1.0, -2.0, -3.0]
    p0 = (math.exp(-1) + math.exp(-2)) / sum(math.exp(x) for x in log_likelihoods)
    expected = -(p0 * math.log(p0) + (1 - p0) * math.log(1 - p0))
    assert likelihood_weighted_entropy([0, 0, 1], log_likelihoods) == pytest.approx(expected)
    assert expected != pytest.approx(discrete_entropy([0, 0, 1]))


def test_weighted_entropy_survives_very_long_answers():
    # exp(-2000) underflows to 0 without the log-sum-exp shift
    assert likelihood_weighted_entropy([0, 1], [-2000.0, -2000.0]) == pytest.approx(math.log(2))


@pytest.mark.parametrize(
    ("entropies", "correct", "expected"),
    [
        ([0.1, 0.2, 0.9, 1.0], [True, True, False, False], 1.0),  # wrong answers have higher entropy
        ([0.9, 1.0, 0.1, 0.2], [True, True, False, False], 0.0),
        ([0.5, 0.5, 0.5, 0.5], [True, False, True, False], 0.5),  # ties count half
        ([0.1, 0.6, 0.4, 0.9], [True, True, False, False], 0.75),  # 3 of 4 wrong/right pairs ordered
    ],
)
def test_auroc_hand_cases(entropies, correct, expected):
    assert entropy_auroc(entropies, correct) == pytest.approx(expected)


def test_auroc_needs_both_outcomes():
    assert entropy_auroc([0.1, 0.2, 0.3], [True, True, True]) is None
    assert entropy_auroc([0.1, 0.2, 0.3], [True, True, False]) is None  # one wrong answer is too few


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>plan it</think>\n\nThe answer.", ("plan it", "The answer.")),
        ("<think>\n\n</think>\n\nJust the answer.", ("", "Just the answer.")),
        ("still thinking</think>answer", ("still thinking", "answer")),  # template opened the block
        ("<think>cut off mid-thought", ("cut off mid-thought", "")),
        ("No tags at all.", ("", "No tags at all.")),
        ("", ("", "")),
    ],
)
def test_split_thinking(text, expected):
    assert split_thinking(text) == expected


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ("It delivered 1,200 cars.", "1200 cars"),
        ("1 200", "1,200"),
        ("The BMW iX3!", "bmw ix3"),
        ("A range of 3.5 km.", "3.5 km"),
        ("paris", "Paris."),
    ],
)
def test_answer_matches(prediction, reference):
    assert answer_matches(prediction, reference)


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ("12000", "1200"),  # a different number
        ("35 km", "3.5 km"),  # the decimal point matters
        ("Parisian food", "Paris"),  # whole words only
        ("anything", "The"),  # a reference that normalises to nothing matches nothing
    ],
)
def test_answer_mismatches(prediction, reference):
    assert not answer_matches(prediction, reference)


def test_normalize_answer():
    assert normalize_answer("  The Quick, brown FOX — an 1,000,000-euro deal ") == "quick brown fox — 1000000 euro deal"


def test_score_fact_recall_rate():
    questions = [FactQuestion("T1", "train", "q1", "Munich"), FactQuestion("T2", "train", "q2", "2024")]
    result = score_fact_recall(questions, ["In Munich.", "2023"])
    assert [a.correct for a in result.answers] == [True, False]
    assert result.rate == 0.5
    with pytest.raises(ValueError, match="2 questions"):
        score_fact_recall(questions, ["only one"])
