"""Dataset and model cards from a real DuckDB catalog and hand-made manifests: the numbers in the
card are the recorded ones, the front matter parses as Hugging Face card data, and the surgery
paragraph names the removed layers and the reason for each kind of surgery. The cards are rendered
from the package's Jinja2 templates: tables are compared row by row, prose with its line breaks
(soft breaks in Markdown) taken as spaces."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from huggingface_hub import DatasetCard, ModelCard

from bmw_assets.catalog import connect
from bmw_assets.dataset.manifest import DatasetManifest
from bmw_assets.evaluation.report import EvalReport
from bmw_assets.sharing.cards import (
    corpus_stats,
    dataset_card,
    model_card,
    read_comparison,
    surgery_explanation,
    write_card,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def prose(text: str) -> str:
    """The card's text with every run of whitespace as one space, as Markdown renders a paragraph."""
    return " ".join(text.split())


def headings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("#")]


@pytest.fixture
def catalog(tmp_path):
    """Three articles in dataset version v1 (two sources), a fourth the LLM filter rejected."""
    path = tmp_path / "catalog.duckdb"
    articles = [
        ("A1", "https://www.press.bmwgroup.com/global/article/detail/A1", datetime(2025, 3, 2, tzinfo=UTC), 0.9, 1.0),
        ("A2", "https://www.press.bmwgroup.com/global/article/detail/A2", datetime(2025, 7, 9, tzinfo=UTC), 0.8, 0.95),
        ("A3", "https://www.bmw-m.com/en/news/A3", datetime(2024, 11, 30, tzinfo=UTC), 0.7, 0.9),
        ("A4", "https://www.press.bmwgroup.com/global/article/detail/A4", datetime(2026, 1, 1, tzinfo=UTC), 0.5, None),
    ]  # fmt: skip
    with connect(path) as con:
        for article_id, url, published, regex_f1, llm_f1 in articles:
            con.execute("INSERT INTO articles (id, language, url, title, published_at, category, first_seen_at, fetched_at) "
                        "VALUES (?, 'en', ?, 't', ?, 'Press Release', ?, ?)", [article_id, url, published, NOW, NOW])  # fmt: skip
            con.execute("INSERT INTO texts (article_id, stage, f1, precision, recall, status, updated_at) "
                        "VALUES (?, 'regex', ?, ?, 1.0, 'ok', ?)", [article_id, regex_f1, regex_f1, NOW])  # fmt: skip
            con.execute("INSERT INTO texts (article_id, stage, f1, precision, recall, status, updated_at) VALUES (?, 'llm', ?, ?, 1.0, ?, ?)",
                        [article_id, llm_f1, llm_f1, "ok" if llm_f1 else "rejected", NOW])  # fmt: skip
        con.executemany(
            "INSERT INTO dataset_splits VALUES ('v1', ?, ?)", [("A1", "train"), ("A2", "train"), ("A3", "test")]
        )
    return path


def manifest(tmp_path) -> DatasetManifest:
    rows = {"train": {"qa": 6, "instruct": 2}, "validation": {"qa": 0, "instruct": 0}, "test": {"qa": 3, "instruct": 1}}
    tokens = {
        "train": {"qa": 600, "instruct": 900},
        "validation": {"qa": 0, "instruct": 0},
        "test": {"qa": 250, "instruct": 420},
    }
    return DatasetManifest(
        version="v1" + "0" * 62, path=str(tmp_path), rows=rows, tokens=tokens, articles={"train": 2, "validation": 0, "test": 1},
        chunked_articles=1, chunked_by_style={}, facts_skipped=0, duplicate_groups=[["A1", "A2"]],
        article_splits={"A1": "train", "A2": "train", "A3": "test"}, token_histogram={},
        settings={"max_length": 1024, "test_strategy": "newest", "near_duplicate_threshold": 0.8, "system_prompt": "Be brief."},
    )  # fmt: skip


def test_the_dataset_card_states_what_the_catalog_recorded(catalog, tmp_path):
    stats = corpus_stats(catalog, "v1")
    assert (stats.articles, stats.first_published, stats.last_published) == (3, "2024-11-30", "2025-07-09")
    assert stats.sources == {"www.press.bmwgroup.com": 2, "www.bmw-m.com": 1}
    regex = next(c for c in stats.cleaning if c.stage == "regex")
    assert regex.scored == 3 and regex.mean_f1 == pytest.approx(0.8) and regex.median_f1 == pytest.approx(0.8)
    assert stats.status_counts["llm"] == {"ok": 3, "rejected": 1}  # the rejected article counts, outside the dataset

    card = dataset_card(manifest(tmp_path), stats)
    text, lines = prose(card.text), card.text.splitlines()
    assert headings(card.text) == ["# BMW Group press releases (ChatML)", "## Sources", "## Cleaning", "## Splits",
                                   "## Format", "## Limitations"]  # fmt: skip
    assert "built from 3 press releases, published 2024-11-30 to 2025-07-09, for supervised fine-tuning" in text
    assert "| www.press.bmwgroup.com | 2 |" in lines and "| www.bmw-m.com | 1 |" in lines
    assert "| regex | 3 | 0.8 | 0.8 | 0.8 | 1 |" in lines and "| llm | 3 | 0.95 | 0.95 | 0.95 | 1 |" in lines
    assert "| split | articles | rows | tokens | rows: instruct | rows: qa |" in lines
    assert "| train | 2 | 8 | 1,500 | 2 | 6 |" in lines and "| test | 1 | 4 | 670 | 1 | 3 |" in lines
    assert "(rejected articles never reach a dataset): llm: 3 ok, 1 rejected; regex: 4 ok." in text
    assert "Languages: en (3). Categories: Press Release (3)." in text
    assert "MinHash Jaccard ≥ 0.8, stay in one split; 1 such groups); test articles chosen by `newest`" in text
    assert "Rows are at most 1024 tokens (1 articles needed more than one row" in text
    assert "`style` (`instruct`, `qa`)" in text and "System prompt: _Be brief._" in text
    assert "Knowledge ends on 2025-07-09;" in text
    written = DatasetCard.load(write_card(card, tmp_path))
    assert written.data.license == "other" and written.data.size_categories == ["n<1K"]
    assert [f["path"] for f in written.data.configs[0]["data_files"]] == [
        "train.jsonl",
        "validation.jsonl",
        "test.jsonl",
    ]


SURGERY = {"num_layers_before": 30, "calibration_tokens": 1434, "block_size": 1}


@pytest.mark.parametrize(
    ("surgery", "config", "expected"),
    [
        ({"kind": "none", "removed_layers": [], "scores": [], "score_name": None}, {}, "all 30 decoder layers"),
        ({"kind": "drop", "removed_layers": [2], "scores": [0.9, 0.3, 0.01, 0.02, 0.05], "score_name": "block_influence"},
         {"layer": "auto"}, "layer 2 of 30 removed, 29 kept, before fine-tuning: it had the lowest Block Influence"),
        ({"kind": "drop", "removed_layers": [16], "scores": [], "score_name": None}, {"layer": 16},
         "layer 16 of 30 removed, 29 kept, before fine-tuning: it is the layer the config names (`surgery.layer: 16`)"),
        ({"kind": "prune", "removed_layers": list(range(9, 19)), "scores": [0.5] * 9 + [0.1793] + [0.4] * 10,
          "score_name": "angular_distance"}, {}, "layers 9–18 (10 layers) of 30 removed, 20 kept"),
        ({"kind": "prune", "removed_layers": list(range(24, 30)), "scores": [], "score_name": None}, {},
         "only the first 24 layers are kept (`prune_strategy: first`"),
    ],
)  # fmt: skip
def test_the_surgery_paragraph_says_which_layers_went_and_why(surgery, config, expected):
    text = surgery_explanation({**SURGERY, **surgery}, config)
    assert expected in text
    if surgery["score_name"] == "block_influence":
        assert "= 0.0100 on 1,434 calibration tokens; next lowest: layers 3 (0.0200), 4 (0.0500)" in text
    if surgery["score_name"] == "angular_distance":
        assert "angular distance of any block of 10 (Gromov et al., 2024) = 0.1793" in text


def trained(method: str = "lora") -> tuple[dict, dict]:
    manifest = {"variant": f"original_{method}", "run_id": "r1", "layers": 30, "removed_layers": [], "total_params": 1000,
                "trainable_params": 25 if method == "lora" else 1000, "device": "NVIDIA H200", "wall_seconds": 3600.5,
                "dataset": {"version": "abc123" * 5}, "method": method,
                "metrics": {"tokens_per_second": 12345.6, "trained_tokens": 4_000_000, "global_step": 900,
                            "final_train_loss": 1.25, "best_eval_loss": 1.5, "best_step": 800, "backend": "unsloth",
                            "loss_mode": "assistant_mask", "processes": 2, "optimizer": "optimi.adamw.AdamW",
                            "final_eval_loss": 1.45}}  # fmt: skip
    training = {"method": method, "lora": {"r": 16, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj"]},
                "learning_rate": 2e-4, "lr_scheduler": "cosine", "warmup_ratio": 0.03, "max_steps": -1,
                "num_train_epochs": 1.0, "per_device_batch_size": 2, "gradient_accumulation_steps": 8,
                "max_length": 4096, "packing": True, "styles": ["qa"], "seed": 2026}  # fmt: skip
    files = {"resolved_config": {"description": "The base model with LoRA adapters.", "profile": "production",
                                 "model": {"name": "Qwen/Qwen3-8B"}, "surgery": {}, "training": training},
             "surgery": {**SURGERY, "num_layers_before": 30, "kind": "none", "removed_layers": [], "scores": [], "score_name": None}}  # fmt: skip
    return manifest, files


def test_the_model_card_reports_training_cost_and_says_when_it_is_not_evaluated():
    manifest, files = trained("lora")
    card = model_card(manifest, files, dataset_repo_id="me/bmw-data")
    text, lines = prose(card.text), card.text.splitlines()
    assert headings(card.text) == ["# original_lora: Qwen/Qwen3-8B fine-tuned on BMW Group press releases",
                                   "## Model surgery", "## Training", "## Evaluation", "## Use", "## Limitations"]  # fmt: skip
    assert ("The base model with LoRA adapters. Run `r1` of the `original_lora` variant (production profile): "
            "30 decoder layers, 1,000 parameters (25 trained, 2.5 %).") in text  # fmt: skip
    assert "| device | NVIDIA H200 × 2 |" in lines
    assert "| optimizer | optimi.adamw.AdamW |" in lines and "| final validation loss (nats/token) | 1.45 |" in lines
    assert "| throughput (tokens/s) | 1.235e+04 |" in lines and "| trained tokens | 4,000,000 |" in lines
    assert "| best validation loss (nats/token) | 1.5 at step 800 |" in lines
    assert (
        "| batch (per device × accumulation) | 16 (2 × 8) |" in lines
        and "| LoRA r / alpha / dropout | 16 / 16 / 0.0 |" in lines
    )
    assert "(backend `unsloth`, loss on `assistant_mask`) on dataset version `abc123abc123abc1`" in text
    assert "_Not evaluated yet" in text and "[me/bmw-data](https://huggingface.co/datasets/me/bmw-data))." in text
    assert "`python -m bmw_assets.serve original_lora`" in text and "the merged export in `merged/`" in text
    assert "Fine-tuning on a narrow domain costs some general ability" in text
    assert "(see the n in the report: — test questions)" in text  # not evaluated: nothing measured
    data = ModelCard(str(card)).data
    assert (data.base_model, data.license, data.datasets, data.eval_results) == (
        "Qwen/Qwen3-8B",
        "apache-2.0",
        ["me/bmw-data"],
        None,
    )
    assert "lora" in data.tags


def test_the_model_card_puts_the_variant_next_to_the_base_model(tmp_path):
    manifest, files = trained("full")
    files["resolved_config"]["model"]["name"] = "someone/unknown-model"
    recall = {"rate": 0.25, "n": 8, "answers": []}
    report = EvalReport(
        variant="original_full", run_id="r1", model_path="m", adapter_path=None, config={},
        perplexity={"perplexity": 7.5, "tokens": 9000}, general_text={"perplexity": 11.0, "tokens": 3000},
        fact_recall={"train": recall, "test": recall},
        semantic_entropy={"mean_weighted_entropy": 0.5, "mean_discrete_entropy": 0.7, "auroc": 0.6, "n": 16},
        samples=[], layers=30, parameters=1000, wall_seconds=10.0, created_at="2026-01-01",
    )  # fmt: skip
    comparison = [
        {"variant": "base", "heldout_perplexity": 9.0, "general_perplexity": 10.0, "forgetting_change_pct": 0.0,
         "fact_recall_train": 0.0, "fact_recall_test": 0.125, "semantic_entropy": 0.4},
        {"variant": "original_full", "heldout_perplexity": 7.5, "general_perplexity": 11.0, "forgetting_change_pct": 10.0,
         "fact_recall_train": 0.25, "fact_recall_test": 0.25, "semantic_entropy": 0.5},
        {"variant": "pruned", "heldout_perplexity": 99.0},
    ]  # fmt: skip
    text = model_card(manifest, files, report, comparison).text
    lines = text.splitlines()
    assert (
        "| base | 9 | 10 | 0 | 0 | 0.125 | 0.4 |" in lines
        and "| original_full | 7.5 | 11 | 10 | 0.25 | 0.25 | 0.5 |" in lines
    )
    assert "pruned" not in text and "8 test questions" in prose(text) and "_Not evaluated yet" not in text
    assert "merged/" not in text  # a full fine-tune has no merged export
    data = ModelCard(str(model_card(manifest, files, report))).data
    assert (data.base_model, data.license) == ("someone/unknown-model", "other")
    assert data.eval_results[0].metric_value == 7.5  # without the comparison, the report's own numbers
    assert read_comparison(tmp_path / "comparison.csv") is None
