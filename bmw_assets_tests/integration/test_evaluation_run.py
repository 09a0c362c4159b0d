"""The out-of-process evaluation entry point on the real SmolLM2, with tiny settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bmw_assets.evaluation.report import eval_result_rows, read_report


@pytest.mark.slow
def test_entry_point_evaluates_the_base_model(base_model_dir, tmp_path):
    facts = tmp_path / "facts.jsonl"
    facts.write_text(
        json.dumps({"article_id": "T0000001EN", "split": "train", "question": "What is the capital of France?", "answer": "Paris"}) + "\n"
        + json.dumps({"article_id": "T0000002EN", "split": "test", "question": "How many wheels does a car have?", "answer": "four"}) + "\n"
    )
    texts = tmp_path / "test.jsonl"
    texts.write_text(json.dumps({"text": "Munich. The BMW Group delivered more electric cars than ever in the first quarter."}) + "\n")
    spec = {
        "variant": "base", "run_id": "run-1", "model_path": str(base_model_dir), "adapter_path": None,
        "config": {
            "perplexity_max_length": 32, "perplexity_stride": 16, "batch_size": 4, "entropy_samples": 3,
            "entropy_temperature": 1.0, "max_new_tokens": 16, "judge": "embedding",
            "judge_model": "packaged:all-minilm-l6-v2", "embedding_threshold": 0.85,
            "generation_prompts": ["Which new models did BMW present?"],
        },
        "test_texts_path": str(texts), "facts_path": str(facts), "probe_path": str(tmp_path / "probe.json"),
        "probe_max_new_tokens": 8, "output_dir": str(tmp_path / "report"),
    }
    spec_path = tmp_path / "eval_spec.json"
    spec_path.write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_PIPES")} | {"HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bmw_assets.evaluation.run", "--spec", str(spec_path)],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "held-out perplexity" in done.stdout  # plain logs outside Pipes

    report = read_report(tmp_path / "report")
    assert (tmp_path / "report" / "eval_report.md").read_text().startswith("# Evaluation: base (run-1)")
    assert report.layers == 30 and report.parameters > 100_000_000
    assert report.perplexity["tokens"] > 10 and 1 < report.perplexity["perplexity"] < 1000
    probe = json.loads((tmp_path / "probe.json").read_text())
    assert len(probe["generated"]) == 6 and "Apache License" in probe["packaged_text"]
    assert report.probe["tokens"] > 1000  # the license text alone is ~2,500 tokens
    assert report.fact_recall["train"]["n"] == 1 and report.fact_recall["test"]["n"] == 1
    assert report.fact_recall["train"]["answers"][0]["correct"]  # SmolLM2 knows Paris
    entropy = report.semantic_entropy
    assert entropy["n"] == 2 and all(len(q["samples"]) == 3 for q in entropy["questions"])
    assert all(0 <= q["weighted_entropy"] <= 1.0987 for q in entropy["questions"])  # at most ln 3
    assert entropy["auroc"] is None  # two questions are too few
    assert [s["enable_thinking"] for s in report.samples] == [None]  # SmolLM2's template has no switch
    rows = eval_result_rows(report)
    assert {r["metric"] for r in rows} >= {"heldout_perplexity", "probe_perplexity", "fact_recall_train", "semantic_entropy"}
