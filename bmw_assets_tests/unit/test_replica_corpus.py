"""The replica corpus: deterministic, sized and spread like the real PressClub, facts in the body."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bmw_assets.replica.corpus import TOPICS, build_corpus, near_duplicate_pairs, revise


@pytest.fixture(scope="module")
def corpus():
    return build_corpus()


def test_same_seed_same_corpus_other_seed_differs(corpus):
    assert build_corpus() == corpus
    other = build_corpus(seed=7, size=50)
    assert [a.body_text for a in other] != [a.body_text for a in corpus[:50]]


def test_size_years_and_id_order(corpus):
    assert len(corpus) == 400
    years = {a.published_at.year for a in corpus}
    assert years == {2023, 2024, 2025, 2026}
    assert all(a.published_at.tzinfo is not None for a in corpus)
    ids = [a.id for a in corpus]
    assert all(re.fullmatch(r"T\d{7}EN", i) for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    dates = [a.published_at for a in corpus]
    assert dates == sorted(dates)


def test_topics_categories_and_overlap(corpus):
    counts = Counter(t for a in corpus for t in a.topics)
    assert set(counts) == set(TOPICS)
    multi = sum(len(a.topics) > 1 for a in corpus) / len(corpus)
    assert 0.18 <= multi <= 0.35
    assert {a.category for a in corpus} == {1, 2, 5, 11}


def test_lengths_vary_with_long_outliers(corpus):
    words = sorted(a.word_count for a in corpus)
    assert words[0] >= 200
    assert 500 <= words[len(words) // 2] <= 1200
    assert sum(w >= 4000 for w in words) >= 4
    assert all(
        a.paragraphs[0].split(". ", 1)[0] in {"Munich", "Oxford", "Woodcliff Lake", "Leipzig", "Farnborough", "Sydney"}
        for a in corpus
    )


def test_facts_are_stated_in_the_body_and_differ(corpus):
    questions = Counter()
    for a in corpus:
        assert 3 <= len(a.facts) <= 5, a.id
        for fact in a.facts:
            assert fact.answer in a.body_text, (a.id, fact)
            questions[fact.question] += 1
    originals = [a for a in corpus if not a.reissue_of]
    # Only the heritage "first presented" facts repeat (a fixed history table); all else is unique.
    repeated = [q for q, n in questions.items() if n > 1 and "first presented" not in q]
    reissued = {f.question for a in corpus if a.reissue_of for f in a.facts}
    assert set(repeated) <= reissued
    assert len(originals) == len(corpus) - 3


def test_attachment_mix(corpus):
    kinds = Counter(a.attachments[0].kind if a.attachments else None for a in corpus)
    assert 0.05 <= kinds[None] / len(corpus) <= 0.15
    assert 0.015 <= kinds["other"] / len(corpus) <= 0.08
    assert kinds["pdf"] / len(corpus) >= 0.75
    ids = [att.attachment_id for a in corpus for att in a.attachments]
    assert len(set(ids)) == len(ids)


def test_near_duplicates_share_the_body_but_not_the_dateline(corpus):
    pairs = near_duplicate_pairs(corpus)
    assert len(pairs) == 3
    by_id = {a.id: a for a in corpus}
    for source, copy in pairs:
        a, b = by_id[source], by_id[copy]
        assert a.paragraphs[1:-1] == b.paragraphs[1:-1]
        assert a.paragraphs[0] != b.paragraphs[0] and a.published_at < b.published_at

    # Unrelated articles share little: word 5-gram Jaccard far below the near-duplicates'.
    def shingles(text):
        words = text.split()
        return {tuple(words[i : i + 5]) for i in range(len(words) - 4)}

    x, y = shingles(corpus[10].body_text), shingles(corpus[11].body_text)
    assert len(x & y) / len(x | y) < 0.1
    a, b = by_id[pairs[0][0]], by_id[pairs[0][1]]
    sa, sb = shingles(a.body_text), shingles(b.body_text)
    assert len(sa & sb) / len(sa | sb) > 0.9


def test_revise_changes_body_keeps_facts(corpus):
    article = corpus[3]
    edited = revise(article)
    assert edited.revision == 2 and edited.body_text != article.body_text
    assert all(f.answer in edited.body_text for f in edited.facts)
