"""The out-of-process evaluation entry point on the real SmolLM2, with tiny settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bmw_assets.evaluation.general_text import write_general_text
from bmw_assets.evaluation.report import eval_result_rows, read_report
from bmw_assets.run_specs import EvalSpec, EvaluatedModel, RetrievalSettings
from bmw_assets_tests.specs import measurement

CONFIG = dict(
    perplexity_max_length=32,
    perplexity_stride=16,
    batch_size=4,
    entropy_samples=3,
    entropy_temperature=1.0,
    max_new_tokens=16,
    judge="embedding",
    judge_model="packaged:all-minilm-l6-v2",
    embedding_threshold=0.85,
    generation_prompts=["Which new models did BMW present?"],
    retrieval_top_k=2,
    retrieval_passage_words=40,
)


def run_evaluation(spec: EvalSpec, tmp_path) -> subprocess.CompletedProcess:
    spec_path = spec.write(tmp_path / "eval_spec.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_PIPES")} | {"HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "bmw_assets.evaluation.run", "--spec", str(spec_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


@pytest.mark.slow
def test_entry_point_evaluates_the_base_model(base_model_dir, tmp_path):
    facts = tmp_path / "facts.jsonl"
    facts.write_text(
        json.dumps(
            {
                "article_id": "T0000001EN",
                "split": "train",
                "question": "What is the capital of France?",
                "answer": "Paris",
                "sentence": "The capital of France is Paris.",
            }
        )
        + "\n"
        + json.dumps(
            {
                "article_id": "T0000002EN",
                "split": "test",
                "question": "How many wheels does a car have?",
                "answer": "four",
            }
        )
        + "\n"
    )
    texts = tmp_path / "test.jsonl"
    texts.write_text(
        json.dumps({"text": "Munich. The BMW Group delivered more electric cars than ever in the first quarter."})
        + "\n"
    )
    general = tmp_path / "general.jsonl"
    assert write_general_text(general, 3000)["documents"] >= 2
    spec = EvalSpec(
        variant="base",
        run_id="run-1",
        model=EvaluatedModel(path=str(base_model_dir)),
        config=measurement(**CONFIG),
        test_texts_path=texts,
        facts_path=facts,
        general_text_path=general,
        output_dir=tmp_path / "report",
    )
    done = run_evaluation(spec, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "held-out perplexity" in done.stdout  # plain logs outside Pipes

    report = read_report(tmp_path / "report")
    assert (tmp_path / "report" / "eval_report.md").read_text().startswith("# Evaluation: base (run-1)")
    assert report.layers == 30 and report.parameters > 100_000_000
    assert report.perplexity["tokens"] > 10 and 1 < report.perplexity["perplexity"] < 1000
    assert report.general_text["tokens"] > 500 and 1 < report.general_text["perplexity"] < 1000
    errors = report.standard_errors()
    assert errors["general_perplexity"] > 0  # bootstrap over its documents
    assert errors["heldout_perplexity"] is None  # one held-out text: nothing to resample
    assert 0 < errors["fact_recall_train"] < 0.5  # 1 of 1 still has an error
    assert report.fact_recall["train"]["n"] == 1 and report.fact_recall["test"]["n"] == 1
    assert report.fact_recall["train"]["answers"][0]["correct"]  # SmolLM2 knows Paris
    # ... and finds " Paris" likely after "The capital of France is"; the test fact has no sentence
    assert report.fact_likelihood["train"]["n"] == 1 and report.fact_likelihood["train"]["perplexity"] < 5
    assert "no question has a sentence" in report.unavailable()["fact_perplexity_test"]
    entropy = report.semantic_entropy
    assert entropy["n"] == 2 and all(len(q["samples"]) == 3 for q in entropy["questions"])
    assert all(0 <= q["weighted_entropy"] <= 1.0987 for q in entropy["questions"])  # at most ln 3
    assert entropy["auroc"] is None and "right" in report.unavailable()["semantic_entropy_auroc"]  # too few questions
    assert [s["enable_thinking"] for s in report.samples] == [None]  # SmolLM2's template has no switch
    rows = eval_result_rows(report)
    assert {r["metric"] for r in rows} >= {
        "heldout_perplexity",
        "general_perplexity",
        "fact_recall_train",
        "semantic_entropy",
    }


@pytest.mark.slow
def test_the_retrieval_baseline_answers_from_the_training_articles(base_model_dir, tmp_path):
    """The base model cannot know a replica-only fact; with the passage that states it in the
    prompt it answers it. Perplexity is not scored (the model is the base) and says so."""
    facts = tmp_path / "facts.jsonl"
    facts.write_text(
        json.dumps(
            {
                "article_id": "T0000003EN",
                "split": "train",
                "question": "Who leads the BMW Group plant in Wackersdorf?",
                "answer": "Ilse Kranichfeld",
                "sentence": "The BMW Group plant in Wackersdorf is led by Ilse Kranichfeld.",
            }
        )
        + "\n"
    )
    article = (
        "Munich. The BMW Group plant in Wackersdorf is led by Ilse Kranichfeld. The plant builds battery "
        "housings for electric cars. It employs 850 people."
    )
    unrelated = "Munich. The MINI Cooper SE reaches a range of 402 kilometres. The car is built in Oxford."
    train = tmp_path / "train.jsonl"
    train.write_text(
        "".join(
            json.dumps(
                {"style": "article", "article_id": a, "chunk": 0, "messages": [{"role": "assistant", "content": text}]}
            )
            + "\n"
            for a, text in (("T0000003EN", article), ("T0000004EN", unrelated))
        )
    )
    spec = EvalSpec(
        variant="base+rag",
        run_id="run-1",
        model=EvaluatedModel(path=str(base_model_dir)),
        config=measurement(**CONFIG | {"retrieval_top_k": 1, "max_new_tokens": 24}),
        test_texts_path=train,
        facts_path=facts,
        general_text_unavailable="not measured for the retrieval baseline",
        retrieval=RetrievalSettings(corpus_path=train),
        output_dir=tmp_path / "report",
    )
    done = run_evaluation(spec, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = read_report(tmp_path / "report")
    answer = report.fact_recall["train"]["answers"][0]
    assert answer["correct"], answer["prediction"]
    # The name the base model cannot know is near certain once the passage stating it is in the prompt.
    assert report.fact_likelihood["train"]["perplexity"] < 2
    assert report.perplexity["tokens"] == 0 and "retrieval baseline" in report.unavailable()["heldout_perplexity"]
    # the log says why, not "nan over 0 tokens"
    assert "held-out perplexity not measured: not scored: the retrieval baseline" in done.stdout
    assert "perplexity nan" not in done.stdout
