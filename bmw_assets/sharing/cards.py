"""Dataset and model cards in the Hugging Face format (YAML front matter + Markdown), written from
what the pipeline recorded: the catalog (sources, dates, cleaning F1), the dataset manifest
(splits, rows, tokens), a run's files (surgery, resolved config, metrics) and its evaluation.

Nothing in a card is typed by hand: a number the pipeline has not measured yet shows as "—". The
prose lies in Jinja2 templates shipped with the package (templates/*.md.j2); this module gathers
the numbers they show.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from huggingface_hub import DatasetCard, DatasetCardData, EvalResult, ModelCard, ModelCardData

from bmw_assets.atomic import write_text_atomic
from bmw_assets.catalog import connect
from bmw_assets.catalog.datasets import dataset_articles, dataset_text_scores
from bmw_assets.catalog.texts import counts_by_stage_and_status
from bmw_assets.dataset.manifest import DatasetManifest
from bmw_assets.dataset.settings import SPLITS
from bmw_assets.evaluation.report import EvalReport
from bmw_assets.models.base_model import PACKAGED_MODEL
from bmw_assets.run_folders import TrainingRunFolder

CARD_NAME = "README.md"
# Config model.name -> (Hub id for `base_model`, license): the packaged model is a Q4_1 GGUF of SmolLM2.
KNOWN_BASE_MODELS = {
    PACKAGED_MODEL: ("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0"),
    "Qwen/Qwen3-8B": ("Qwen/Qwen3-8B", "apache-2.0"),
}
# Press releases are the BMW Group's copyrighted material; the Hub's "other" names that license.
DATASET_LICENSE = {"license": "other", "license_name": "bmw-group-press-material"}
DATASET_TAGS = ["bmw", "press-releases", "automotive", "chatml", "sft"]
MODEL_TAGS = ["bmw", "press-releases", "sft", "trl", "layer-pruning"]
_MISSING = "—"


@dataclass(frozen=True)
class CleaningScore:
    """Token precision/recall/F1 of one text stage against the article's HTML body, over the
    `scored` articles of a dataset version that have a score (means and median in [0, 1])."""

    stage: str
    scored: int
    mean_f1: float | None
    median_f1: float | None
    mean_precision: float | None
    mean_recall: float | None


@dataclass(frozen=True)
class CorpusStats:
    """What the catalog knows about a dataset version's articles: how many, the first and last
    publication dates (ISO), article counts per source host, language and category, the cleaning
    scores per stage, and `status_counts[stage][status]` over the whole catalog (so articles the
    LLM filter rejected, which never reach a dataset, are counted too)."""

    articles: int
    first_published: str | None
    last_published: str | None
    sources: dict[str, int]
    languages: dict[str, int]
    categories: dict[str, int]
    cleaning: list[CleaningScore]
    status_counts: dict[str, dict[str, int]]


def _counts(values: Sequence[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        key = str(value) if value is not None else "unknown"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def corpus_stats(catalog_path: Path, dataset_version: str) -> CorpusStats:
    """Read the catalog's facts about the articles of `dataset_version` (table dataset_splits)."""
    with connect(catalog_path) as con:
        articles = dataset_articles(con, dataset_version)
        scores = dataset_text_scores(con, dataset_version)
        statuses = counts_by_stage_and_status(con)
    dates = sorted(row[3] for row in articles if row[3] is not None)
    cleaning = []
    for stage in sorted({row[0] for row in scores}):
        rows = [row for row in scores if row[0] == stage]
        cleaning.append(CleaningScore(
            stage, len(rows), statistics.fmean(r[1] for r in rows), statistics.median(r[1] for r in rows),
            statistics.fmean(r[2] for r in rows), statistics.fmean(r[3] for r in rows),
        ))  # fmt: skip
    status_counts: dict[str, dict[str, int]] = {}
    for stage, status, count in statuses:
        status_counts.setdefault(stage, {})[status] = count
    return CorpusStats(
        articles=len(articles),
        first_published=dates[0].date().isoformat() if dates else None,
        last_published=dates[-1].date().isoformat() if dates else None,
        sources=_counts([urlsplit(row[0]).netloc for row in articles]),
        languages=_counts([row[1] for row in articles]),
        categories=_counts([row[2] for row in articles]),
        cleaning=cleaning,
        status_counts=status_counts,
    )


def _number(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _MISSING
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[_number(c) if not isinstance(c, str) else c.replace("|", "\\|") for c in row] for row in rows]
    return [
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
        *("| " + " | ".join(r) + " |" for r in cells),
    ]


def _counted(counts: Mapping[str, int]) -> str:
    """ "en (3), de (1)", or "—" when there is nothing to count."""
    return ", ".join(f"{key} ({count})" for key, count in counts.items()) or _MISSING


def _size_category(rows: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return label
    return "1M<n<10M"


def dataset_card(
    manifest: DatasetManifest, corpus: CorpusStats, pretty_name: str = "BMW Group press releases (ChatML)"
) -> DatasetCard:
    """The dataset card of one dataset version: front matter (license, language, tags, size,
    split files) and a body with sources, date range, cleaning F1, splits, rows and tokens."""
    rows = {split: sum(manifest.rows[split].values()) for split in SPLITS}
    tokens = {split: sum(manifest.tokens[split].values()) for split in SPLITS}
    styles = sorted({style for split in SPLITS for style in manifest.rows[split]})
    data = DatasetCardData(
        pretty_name=pretty_name,
        language=list(corpus.languages) or None,
        **DATASET_LICENSE,
        tags=DATASET_TAGS,
        task_categories=["text-generation"],
        size_categories=[_size_category(sum(rows.values()))],
        configs=[{"config_name": "default", "data_files": [{"split": s, "path": f"{s}.jsonl"} for s in SPLITS]}],
    )
    card = _render(
        "dataset_card.md.j2", data,
        pretty_name=pretty_name, corpus=corpus, manifest=manifest, settings=manifest.settings, styles=styles,
        period=f"{corpus.first_published} to {corpus.last_published}" if corpus.first_published else _MISSING,
        cleaning_rows=[(c.stage, c.scored, c.mean_f1, c.median_f1, c.mean_precision, c.mean_recall)
                       for c in corpus.cleaning],
        style_columns=[f"rows: {style}" for style in styles],
        split_rows=[(s, manifest.articles[s], rows[s], tokens[s], *(manifest.rows[s].get(st, 0) for st in styles))
                    for s in SPLITS],
    )  # fmt: skip
    return DatasetCard(card)


def read_run_files(run: TrainingRunFolder) -> dict[str, Any]:
    """A finished run's `resolved_config.json` and `surgery.json` (the files the training run wrote)."""
    return {
        "resolved_config": json.loads(run.resolved_config.read_text(encoding="utf-8")),
        "surgery": json.loads(run.surgery.read_text(encoding="utf-8")),
    }


def surgery_explanation(surgery: Mapping[str, Any], surgery_config: Mapping[str, Any]) -> str:
    """One paragraph saying which decoder layers went and why, from a run's surgery.json and its config."""
    removed, before = surgery["removed_layers"], surgery["num_layers_before"]
    scores, measured = surgery.get("scores") or [], f"{surgery.get('calibration_tokens', 0):,} calibration tokens"
    if not removed:
        return f"No layers were removed: all {before} decoder layers of the base model are kept."
    span = f"layer {removed[0]}" if len(removed) == 1 else f"layers {removed[0]}–{removed[-1]} ({len(removed)} layers)"
    if surgery.get("score_name") == "block_influence":
        ranked = sorted(range(len(scores)), key=scores.__getitem__)
        runners = ", ".join(f"{i} ({scores[i]:.4f})" for i in ranked[1:3])
        why = (f"it had the lowest Block Influence (1 − cosine similarity of the layer's input and output hidden "
               f"states, ShortGPT) = {scores[removed[0]]:.4f} on {measured}; next lowest: layers {runners}")  # fmt: skip
    elif surgery.get("score_name") == "angular_distance":
        why = (f"its input and output hidden states were the closest in angular distance of any block of "
               f"{len(removed)} (Gromov et al., 2024) = {scores[removed[0]]:.4f} on {measured}")  # fmt: skip
    elif surgery["kind"] == "prune":
        why = f"only the first {before - len(removed)} layers are kept (`prune_strategy: first`, as the original project did)"
    else:
        why = f"it is the layer the config names (`surgery.layer: {surgery_config.get('layer')}`)"
    return (f"Surgery `{surgery['kind']}`: {span} of {before} removed, {before - len(removed)} kept, before "
            f"fine-tuning: {why}.")  # fmt: skip


def _hyper_parameters(training: Mapping[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [("method", training["method"])]
    if training["method"] == "lora":
        lora = training["lora"]
        rows += [("LoRA r / alpha / dropout", f"{lora['r']} / {lora['alpha']} / {lora['dropout']}"),
                 ("LoRA target modules", ", ".join(lora["target_modules"]))]  # fmt: skip
    batch = training["per_device_batch_size"] * training.get("gradient_accumulation_steps", 1)
    rows += [
        ("learning rate", f"{training['learning_rate']:g} ({training.get('lr_scheduler')}, warmup {training.get('warmup_ratio')})"),
        ("steps", training["max_steps"] if training.get("max_steps", -1) > 0 else f"{training.get('num_train_epochs')} epochs"),
        ("batch (per device × accumulation)", f"{batch} ({training['per_device_batch_size']} × {training.get('gradient_accumulation_steps', 1)})"),
        ("max length (tokens)", training["max_length"]),
        ("packing", str(training.get("packing"))),
        ("styles", ", ".join(training.get("styles", []))),
        ("seed", str(training.get("seed"))),
    ]  # fmt: skip
    return rows


def _evaluation_rows(
    variant: str, report: EvalReport | None, comparison: Sequence[Mapping[str, Any]] | None
) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of the evaluation table: the base model and this variant from the comparison
    when it exists (with forgetting), else this variant's report alone."""
    columns = [("heldout_perplexity", "held-out perplexity"), ("general_perplexity", "general-text perplexity"),
               ("forgetting_change_pct", "forgetting (%)"), ("fact_recall_train", "fact recall (train articles)"),
               ("fact_recall_test", "fact recall (test articles)"), ("semantic_entropy", "semantic entropy (nats)")]  # fmt: skip
    wanted = {row["variant"]: row for row in comparison or [] if row["variant"] in ("base", variant)}
    if variant not in wanted and report is not None:
        metrics = {name: value for name, (value, _) in report.metrics().items()}
        wanted[variant] = {"variant": variant, **metrics, "forgetting_change_pct": None}
    header = ["model", *(title for _, title in columns)]
    return header, [[name, *(row.get(key) for key, _ in columns)] for name, row in wanted.items()]


def model_card(
    trained: Mapping[str, Any],
    run_files: Mapping[str, Any],
    report: EvalReport | None = None,
    comparison: Sequence[Mapping[str, Any]] | None = None,
    dataset_repo_id: str | None = None,
) -> ModelCard:
    """The model card of one trained variant. `trained` is the trained_model manifest (with its
    `metrics`), `run_files` what `read_run_files` returns, `report` the variant's evaluation,
    `comparison` the variant_comparison rows (dicts with a "variant" key; "base" is the base model),
    `dataset_repo_id` the Hub dataset it was trained on, when published."""
    config, surgery, metrics = run_files["resolved_config"], run_files["surgery"], trained.get("metrics", {})
    variant, training = trained["variant"], config["training"]
    base_id, license_id = KNOWN_BASE_MODELS.get(config["model"]["name"], (config["model"]["name"], "other"))
    results = []
    if report is not None:
        heldout = report.metrics()["heldout_perplexity"][0]
        if heldout is not None and not math.isnan(heldout):
            results.append(EvalResult(task_type="text-generation", dataset_type=dataset_repo_id or "bmw-pressclub",
                                      dataset_name="BMW Group press releases (held-out test split)",
                                      metric_type="perplexity", metric_value=round(heldout, 4)))  # fmt: skip
    data = ModelCardData(
        language=["en"], license=license_id, base_model=base_id, library_name="transformers",
        pipeline_tag="text-generation", tags=[*MODEL_TAGS, training["method"]],
        datasets=[dataset_repo_id] if dataset_repo_id else None,
        model_name=f"bmw-pressclub-{variant}" if results else None, eval_results=results or None,
    )  # fmt: skip
    header, rows = _evaluation_rows(variant, report, comparison)
    share = trained["trainable_params"] / trained["total_params"] if trained.get("total_params") else None
    card = _render(
        "model_card.md.j2", data,
        variant=variant, base_id=base_id, config=config, trained=trained, metrics=metrics,
        trained_percent=100 * share if share is not None else None,
        surgery_paragraph=surgery_explanation(surgery, config["surgery"]),
        dataset_repo_id=dataset_repo_id,
        hyper_parameters=_hyper_parameters(training), training_cost=_training_cost(trained, metrics),
        evaluation_header=header, evaluation_rows=rows,
        lora=training["method"] == "lora", layers_removed=bool(surgery["removed_layers"]),
        test_questions=report.fact_recall["test"]["n"] if report else None,
    )  # fmt: skip
    return ModelCard(card)


def _training_cost(trained: Mapping[str, Any], metrics: Mapping[str, Any]) -> list[tuple[str, Any]]:
    best_loss = f"{_number(metrics.get('best_eval_loss'))} at step {metrics.get('best_step', _MISSING)}"
    return [
        ("device", f"{trained.get('device', _MISSING)} × {metrics.get('processes', 1)}"),
        ("optimizer", metrics.get("optimizer", _MISSING)),
        ("wall time (s)", trained.get("wall_seconds")),
        ("throughput (tokens/s)", metrics.get("tokens_per_second")),
        ("trained tokens", metrics.get("trained_tokens")),
        ("optimizer steps", metrics.get("global_step")),
        ("final train loss (nats/token)", metrics.get("final_train_loss")),
        ("best validation loss (nats/token)", best_loss),
        ("final validation loss (nats/token)", _number(metrics.get("final_eval_loss"))),
    ]


_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("bmw_assets.sharing", "templates"),
    undefined=jinja2.StrictUndefined,  # a name the code forgot to pass fails the card, not a blank in it
    trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    autoescape=False,  # Markdown, not HTML
)  # fmt: skip
_TEMPLATES.filters.update(number=_number, counted=_counted)
_TEMPLATES.globals.update(table=lambda header, rows: "\n".join(_table(header, list(rows))), missing=_MISSING)


def _render(template: str, card_data: DatasetCardData | ModelCardData, **values: Any) -> str:
    """The card's text: `card_data` as YAML front matter, then the template's Markdown body."""
    return _TEMPLATES.get_template(template).render(card_data=card_data.to_yaml(), **values)


def read_comparison(path: Path) -> list[dict[str, Any]] | None:
    """The rows of variant_comparison's `comparison.csv` (None when it has not been written)."""
    import polars as pl

    return pl.read_csv(path).to_dicts() if Path(path).is_file() else None


def write_card(card: ModelCard | DatasetCard, folder: Path) -> Path:
    """Write the card as `README.md` into `folder` (atomically); return its path."""
    path = Path(folder) / CARD_NAME
    write_text_atomic(path, str(card))
    return path
