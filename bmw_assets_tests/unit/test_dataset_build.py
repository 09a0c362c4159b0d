"""Dataset builder: splits, leakage, chunking, rendering, grounding, versioning, validators.

Uses the real SmolLM2 tokenizer (the shared `base_model_dir` fixture) and articles from the replica corpus.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bmw_assets.dataset import (
    SPLITS,
    DatasetArticle,
    DatasetSettings,
    build_dataset,
    check_assistant_turns,
    check_max_length,
    check_no_leakage,
    check_schema,
    load_manifest,
    load_split,
    plot_token_histogram,
)
from bmw_assets.dataset.chunking import paragraph_spans
from bmw_assets.dataset.dedup import group_duplicates
from bmw_assets.dataset.splits import assign_splits, unit_hash
from bmw_assets.replica.corpus import build_corpus

os.environ.setdefault("HF_HUB_OFFLINE", "1")
START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
WORDS = (
    "the BMW Group plant Munich battery cell range charging electric drive customers market launch model "
    "series production efficiency design interior software update network partners region sales quarter"
).split()


@pytest.fixture(scope="session")
def tokenizer(base_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_model_dir)


@pytest.fixture(scope="session")
def replica_articles() -> list[DatasetArticle]:
    corpus = build_corpus(seed=2026, size=400)
    # Short articles keep the builds fast; the long press kits are exercised by chunking tests.
    short = [a for a in corpus if len(a.body_text) < 2500][:40]
    return [DatasetArticle(a.id, a.title, a.published_at, a.body_text, a.facts) for a in short]


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def make_article(number: int, paragraphs: list[str], title: str | None = None) -> DatasetArticle:
    return DatasetArticle(
        f"T{number:07d}EN", title or f"Release {number}", START + timedelta(days=number), "\n\n".join(paragraphs)
    )


def random_article(number: int, seed: int) -> DatasetArticle:
    rng = random.Random(seed)
    paragraphs = [" ".join(sentence(rng, rng.randint(8, 16)) for _ in range(rng.randint(2, 4))) for _ in range(4)]
    return make_article(number, ["Munich. " + paragraphs[0], *paragraphs[1:]])


def all_rows(manifest) -> dict[str, list[dict]]:
    return {split: load_split(manifest.split_path(split)) for split in SPLITS}


def test_same_input_gives_same_version_and_splits_and_is_not_rewritten(tokenizer, replica_articles, tmp_path):
    settings = DatasetSettings(max_length=512, styles=("instruct", "qa"))
    first = build_dataset(replica_articles, tokenizer, settings, tmp_path)
    train_file = first.split_path("train")
    written_at = train_file.stat().st_mtime_ns
    shuffled = random.Random(1).sample(replica_articles, len(replica_articles))
    again = build_dataset(shuffled, tokenizer, settings, tmp_path)
    assert again.version == first.version
    assert again.article_splits == first.article_splits
    assert train_file.stat().st_mtime_ns == written_at
    assert [p.name for p in tmp_path.iterdir()] == [first.version]
    assert load_manifest(Path(first.path)) == first
    assert set(first.article_splits) == {a.article_id for a in replica_articles}
    assert sum(first.articles.values()) == len(replica_articles)

    other_seed = build_dataset(replica_articles, tokenizer, dataclasses.replace(settings, seed=7), tmp_path)
    assert other_seed.version != first.version
    assert other_seed.article_splits != first.article_splits
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.version, other_seed.version])


def test_exact_and_near_duplicates_always_share_a_split(tokenizer, tmp_path):
    articles = [random_article(n, seed=n) for n in range(12)]
    original = articles[3].text.split()
    # A regional re-issue: new dateline, one word changed, one sentence appended.
    near = " ".join(["Sydney."] + original[1:10] + ["Australian"] + original[11:]) + " It goes on sale in Australia."
    articles.append(DatasetArticle("T0000100EN", "Re-issue", START + timedelta(days=100), near))
    articles.append(DatasetArticle("T0000101EN", "Copy", START + timedelta(days=101), articles[5].text))
    groups = group_duplicates(articles, threshold=0.8, shingle_words=5, permutations=128)
    assert ["T0000003EN", "T0000100EN"] in groups
    assert ["T0000005EN", "T0000101EN"] in groups
    assert sum(len(g) > 1 for g in groups) == 2

    published = {a.article_id: a.published_at for a in articles}
    separated_alone = 0
    for seed in range(40):
        splits = assign_splits(groups, published, DatasetSettings(seed=seed))
        assert splits["T0000003EN"] == splits["T0000100EN"]
        assert splits["T0000005EN"] == splits["T0000101EN"]
        separated_alone += _split_of(seed, "T0000003EN") != _split_of(seed, "T0000100EN")
    assert separated_alone > 0, "the pair must be one a plain per-article hash would have separated"

    manifest = build_dataset(articles, tokenizer, DatasetSettings(max_length=512, styles=("qa",)), tmp_path)
    assert manifest.duplicate_groups == [["T0000003EN", "T0000100EN"], ["T0000005EN", "T0000101EN"]]
    assert check_no_leakage(all_rows(manifest))[0]


def _split_of(seed: int, article_id: str) -> str:
    point = unit_hash(seed, article_id)
    return "train" if point < 0.8 else "validation" if point < 0.9 else "test"


def test_replica_reissues_are_grouped():
    corpus = build_corpus(seed=2026, size=400)
    reissues = [(a.id, a.reissue_of) for a in corpus if getattr(a, "reissue_of", None)]
    assert reissues, "the replica corpus ships near-duplicate re-issues"
    articles = [DatasetArticle(a.id, a.title, a.published_at, a.body_text) for a in corpus]
    groups = group_duplicates(articles, threshold=0.8, shingle_words=5, permutations=128)
    group_of = {aid: tuple(g) for g in groups for aid in g}
    for reissue, original in reissues:
        assert group_of[reissue] == group_of[original]


def test_newest_articles_are_the_test_split(tokenizer, tmp_path):
    articles = [random_article(n, seed=n) for n in range(20)]
    settings = DatasetSettings(
        max_length=512,
        styles=("instruct",),
        test_strategy="newest",
        train_fraction=0.6,
        validation_fraction=0.2,
        test_fraction=0.2,
    )
    manifest = build_dataset(articles, tokenizer, settings, tmp_path)
    newest = {a.article_id for a in articles[-4:]}
    assert {aid for aid, split in manifest.article_splits.items() if split == "test"} == newest
    assert {r["article_id"] for r in load_split(manifest.split_path("test"))} == newest
    assert manifest.articles["train"] + manifest.articles["validation"] == 16


def test_long_articles_are_chunked_without_loss_and_within_max_length(tokenizer, tmp_path):
    rng = random.Random(5)
    giant = " ".join(sentence(rng, 14) for _ in range(40))  # one paragraph of ~600 tokens
    paragraphs = ["Munich. " + sentence(rng, 20)] + [sentence(rng, 30) for _ in range(5)] + [giant, sentence(rng, 12)]
    long_article = make_article(1, paragraphs)
    short_article = make_article(2, ["Munich. A short release.", "It fits easily."])
    settings = DatasetSettings(max_length=200, styles=("instruct", "article"))
    manifest = build_dataset([long_article, short_article], tokenizer, settings, tmp_path)
    rows = [r for split in all_rows(manifest).values() for r in split]

    for style in ("instruct", "article"):
        chunks = sorted(
            (r for r in rows if r["article_id"] == long_article.article_id and r["style"] == style),
            key=lambda r: r["chunk"],
        )
        assert [r["chunk"] for r in chunks] == list(range(len(chunks)))
        assert len(chunks) > 3
        contents = [r["messages"][-1]["content"] for r in chunks]
        assert " ".join(" ".join(contents).split()) == " ".join(long_article.text.split())
        # Paragraphs that fit are never cut: each lies whole inside one chunk.
        for paragraph in paragraphs[:6]:
            assert any(paragraph in content for content in contents)
    passed, details = check_max_length(rows, 200, tokenizer)
    assert passed, details
    assert details["longest_tokens"] > 150  # chunks are packed, not one sentence each
    assert manifest.chunked_articles == 1
    assert manifest.chunked_by_style == {"instruct": 1, "article": 1}

    with pytest.raises(ValueError, match="max_length"):
        build_dataset([long_article], tokenizer, DatasetSettings(max_length=30, styles=("instruct",)), tmp_path)


def test_text_is_the_tokenizers_own_chat_template(tokenizer, replica_articles, tmp_path):
    settings = DatasetSettings(max_length=512)
    manifest = build_dataset(replica_articles[:8], tokenizer, settings, tmp_path)
    rows = [r for split in all_rows(manifest).values() for r in split]
    assert {r["style"] for r in rows} == {"instruct", "qa", "article"}
    for row in rows:
        if row["style"] == "article":
            assert row["text"] == row["messages"][0]["content"] + tokenizer.eos_token
        else:
            assert row["text"] == tokenizer.apply_chat_template(row["messages"], tokenize=False)
            assert row["messages"][0] == {"role": "system", "content": settings.system_prompt}
        assert row["tokens"] == len(tokenizer(row["text"], add_special_tokens=False)["input_ids"])
    instruct = next(r for r in rows if r["style"] == "instruct" and r["chunk"] == 0)
    title = next(a.title for a in replica_articles if a.article_id == instruct["article_id"])
    assert instruct["messages"][1]["content"] == f"Tell me about: {title}"


def test_thinking_switch_reaches_templates_that_know_it(tokenizer, tmp_path):
    thinking_tokenizer = copy.deepcopy(tokenizer)
    thinking_tokenizer.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' and enable_thinking %}"
        "<think>\n</think>\n{% endif %}{{ m.content }}<|im_end|>\n{% endfor %}"
    )
    settings = DatasetSettings(max_length=512, styles=("instruct", "qa"), thinking_styles=("qa",))
    manifest = build_dataset([random_article(1, seed=1)], thinking_tokenizer, settings, tmp_path)
    rows = [r for split in all_rows(manifest).values() for r in split]
    assert all(("<think>" in r["text"]) == (r["style"] == "qa") for r in rows)


def test_qa_answers_are_taken_from_the_article(tokenizer, replica_articles, tmp_path):
    with_facts = [a for a in replica_articles if a.facts][:6]
    no_facts = DatasetArticle("T0000900EN", "Plain", START, "Munich. Lead paragraph here.\n\nSecond paragraph.")
    bad_fact = DatasetArticle(
        "T0000901EN", "Bad", START, "Munich. Some text.\n\nMore text.", facts=(("What is the price?", "99,999 euros"),)
    )
    manifest = build_dataset(
        [*with_facts, no_facts, bad_fact], tokenizer, DatasetSettings(max_length=512, styles=("qa",)), tmp_path
    )
    rows = [r for split in all_rows(manifest).values() for r in split]
    text_of = {a.article_id: a.text for a in [*with_facts, no_facts, bad_fact]}
    for row in rows:
        assert row["messages"][-1]["content"] in text_of[row["article_id"]]
    for article in with_facts:
        qa = {
            r["messages"][1]["content"]: r["messages"][2]["content"]
            for r in rows
            if r["article_id"] == article.article_id
        }
        assert set(qa) == {q for q, _ in article.facts}
        for question, answer in article.facts:
            assert answer.lower() in qa[question].lower()
    lead_rows = [r for r in rows if r["article_id"] in ("T0000900EN", "T0000901EN")]
    assert [r["messages"][2]["content"] for r in lead_rows] == ["Munich. Lead paragraph here.", "Munich. Some text."]
    assert "“Plain” of 6 January 2025" in lead_rows[0]["messages"][1]["content"]
    assert manifest.facts_skipped == 1


def _row(**changes) -> dict:
    row = {
        "messages": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": "A"},
        ],
        "text": "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n",
        "style": "qa",
        "article_id": "T0000001EN",
        "chunk": 0,
        "tokens": 16,
    }
    return {**row, **changes}


def test_validators_pass_good_rows_and_catch_bad_ones(tokenizer):
    good = _row()
    assert check_schema([good])[0] and check_assistant_turns([good])[0]
    assert check_max_length([good], 64, tokenizer)[0]
    empty_answer = _row(messages=[*good["messages"][:2], {"role": "assistant", "content": "  "}])
    assert not check_assistant_turns([good, empty_answer])[0]
    passed, details = check_schema([good, empty_answer])
    assert not passed and details["failures"] == 1 and "T0000001EN/qa/0" in details["examples"][0]
    swapped = _row(messages=[good["messages"][0], good["messages"][2], good["messages"][1]])
    assert not check_schema([swapped])[0]
    no_answer = _row(messages=good["messages"][:2])
    assert not check_schema([no_answer])[0] and not check_assistant_turns([no_answer])[0]
    assert not check_schema([_row(messages=[{"role": "robot", "content": "x"}])])[0]
    assert not check_schema([_row(tokens="16")])[0]

    leaked = {"train": [good], "validation": [_row(chunk=1)], "test": []}
    passed, details = check_no_leakage(leaked)
    assert not passed and details["examples"] == ["T0000001EN: in ['train', 'validation']"]
    assert check_no_leakage({"train": [good], "test": [_row(article_id="T0000002EN")]})[0]

    long_text = good["text"] * 20
    assert not check_max_length([_row(text=long_text)], 64, tokenizer)[0]  # re-tokenised: truth
    assert not check_max_length([_row(tokens=65)], 64)[0]  # recorded count


def test_histogram_png_is_written(tokenizer, tmp_path):
    articles = [random_article(n, seed=n) for n in range(6)]
    manifest = build_dataset(articles, tokenizer, DatasetSettings(max_length=256), tmp_path / "datasets")
    counts = manifest.token_histogram["counts"]
    assert sum(sum(c) for c in counts.values()) == sum(sum(v.values()) for v in manifest.rows.values())
    png = plot_token_histogram(manifest, tmp_path / "hist.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="add up to 1"):
        DatasetSettings(train_fraction=0.9, validation_fraction=0.1, test_fraction=0.1)
    with pytest.raises(ValueError, match="unknown styles"):
        DatasetSettings(styles=("chat",))
    with pytest.raises(ValueError, match="test_strategy"):
        DatasetSettings(test_strategy="oldest")


def test_paragraph_spans_trim_and_skip_blank_paragraphs():
    text = "  A one.\n\n\n\nB two. \n \nC"
    assert [text[s:e] for s, e in paragraph_spans(text)] == ["A one.", "B two.", "C"]


def test_a_recurring_answer_is_answered_by_the_sentence_that_states_it(tokenizer, tmp_path):
    # A name recurs in a press release: the question about the appointment must be answered by the
    # appointment, not by the first sentence that happens to name the person.
    text = (
        "Munich. Miriam Seidel studied mechanical engineering at the University of Michigan.\n\n"
        "On 21 March 2023 Miriam Seidel becomes Head of Customer Experience at BMW Group Financial Services. "
        "She joined the BMW Group in 2012."
    )
    article = DatasetArticle(
        "T0000902EN",
        "Appointment",
        START,
        text,
        facts=(
            ("Who becomes Head of Customer Experience at BMW Group Financial Services?", "Miriam Seidel"),
            ("Where did Miriam Seidel study?", "University of Michigan"),
        ),
    )
    manifest = build_dataset([article], tokenizer, DatasetSettings(max_length=512, styles=("qa",)), tmp_path)
    answers = {r["messages"][1]["content"]: r["messages"][2]["content"] for split in all_rows(manifest).values()
               for r in split}  # fmt: skip
    assert answers["Who becomes Head of Customer Experience at BMW Group Financial Services?"] == (
        "On 21 March 2023 Miriam Seidel becomes Head of Customer Experience at BMW Group Financial Services."
    )
    assert answers["Where did Miriam Seidel study?"] == (
        "Miriam Seidel studied mechanical engineering at the University of Michigan."
    )
