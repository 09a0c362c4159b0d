"""Evaluation assets: one report per variant, one for the base model, and their comparison."""

from pathlib import Path

import dagster as dg

from bmw_assets.atomic import write_text_atomic
from bmw_assets.defs.metadata import markdown_image
from bmw_assets.defs.resources import (
    ComputeResource,
    FactsResource,
    ModelConfigsResource,
    StorageResource,
)
from bmw_assets.defs.training import variants
from bmw_assets.evaluation.comparison import (
    compare_variants,
    comparison_markdown,
    load_training_stats,
)
from bmw_assets.evaluation.plots import plot_loss_curves, plot_metric_bars
from bmw_assets.evaluation.report import EvalReport
from bmw_assets.evaluation.retrieval import RAG_VARIANT
from bmw_assets.settings import evaluation_pool
from bmw_assets.training.artifacts import model_to_evaluate
from bmw_assets.stages.evaluation import (
    BASE_VARIANT,
    plan_eval_run,
    record_eval,
    write_facts_file,
    write_heldout_texts,
)


def _evaluate(context, compute, storage, facts, dataset, evaluation_config, variant, run_id, model, retrieval_corpus=None):
    layout = storage.layout
    per_split = evaluation_config["fact_questions"]
    facts_path = layout.reports_dir / "facts" / f"{dataset['version'][:16]}-{per_split}.jsonl"
    write_facts_file(layout.catalog_path, dataset["version"], facts.facts(), facts_path, per_split)
    max_tokens = evaluation_config["heldout_max_tokens"]
    heldout_path = layout.reports_dir / "heldout" / f"{dataset['version'][:16]}-{max_tokens}.jsonl"
    write_heldout_texts(Path(dataset["path"]), heldout_path, max_tokens)
    plan = plan_eval_run(variant, run_id, evaluation_config, model, facts_path, heldout_path, layout, retrieval_corpus)
    reported = {}
    if plan.completed:
        context.log.info(f"{plan.output_dir} already holds this evaluation")
    else:
        reported = compute.evaluate(context, plan.spec_path).get_materialize_result().metadata
    report = record_eval(layout.catalog_path, plan)
    metadata = {name: value for name, (value, _) in report.metrics().items() if value is not None and value == value}
    metadata |= {k: v for k, v in reported.items() if k not in metadata}
    metadata["report"] = dg.MetadataValue.path(str(plan.output_dir / "eval_report.md"))
    return dg.MaterializeResult(value=report.to_dict(), metadata=metadata)


@dg.asset(
    group_name="evaluation",
    kinds={"pytorch"},
    pool=evaluation_pool(),
    description="The base model measured like every variant (held-out perplexity, general-English perplexity, "
    "fact recall, semantic entropy, samples): the reference every variant is compared with.",
)
def base_model_report(
    context: dg.AssetExecutionContext,
    base_model: dict,
    chatml_dataset: dict,
    storage: StorageResource,
    model_configs: ModelConfigsResource,
    facts: FactsResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    evaluation = next(iter(model_configs.load_valid()[0].values())).evaluation.model_dump(mode="json")
    run_id = chatml_dataset["version"][:10]
    model = {"model_path": base_model["path"], "adapter_path": None}
    return _evaluate(context, compute, storage, facts, chatml_dataset, evaluation, BASE_VARIANT, run_id, model)


@dg.asset(
    group_name="evaluation",
    kinds={"pytorch"},
    pool=evaluation_pool(),
    description="The retrieval baseline (`base+rag`): the base model answering the same fact questions with the "
    "top passages of the training articles in its prompt (MiniLM embeddings). Answers whether fine-tuning "
    "is worth it against retrieval; no perplexity (the model is the base).",
)
def rag_baseline_report(
    context: dg.AssetExecutionContext,
    base_model: dict,
    chatml_dataset: dict,
    storage: StorageResource,
    model_configs: ModelConfigsResource,
    facts: FactsResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    evaluation = next(iter(model_configs.load_valid()[0].values())).evaluation.model_dump(mode="json")
    run_id = chatml_dataset["version"][:10]
    model = {"model_path": base_model["path"], "adapter_path": None}
    return _evaluate(context, compute, storage, facts, chatml_dataset, evaluation, RAG_VARIANT, run_id, model,
                     retrieval_corpus=Path(chatml_dataset["path"]) / "train.jsonl")  # fmt: skip


@dg.asset(
    partitions_def=variants,
    group_name="evaluation",
    kinds={"pytorch"},
    pool=evaluation_pool(),
    deps=["base_model_report"],
    # Re-evaluate when this variant's model changes, not when the dataset alone is refreshed.
    automation_condition=dg.AutomationCondition.eager().allow(dg.AssetSelection.assets("trained_model")),
    description="One variant measured on the held-out test split: sliding-window perplexity, forgetting probe, "
    "fact recall, semantic entropy and sample generations (Qwen3 thinking parsed). Follows its "
    "trained_model partition automatically; JSON + Markdown report under `reports/<variant>/<run_id>/`.",
)
def eval_report(
    context: dg.AssetExecutionContext,
    trained_model: dict,
    chatml_dataset: dict,
    base_model: dict,
    storage: StorageResource,
    model_configs: ModelConfigsResource,
    facts: FactsResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    cfg = model_configs.load(context.partition_key)
    model = model_to_evaluate(trained_model, base_model["path"])
    return _evaluate(context, compute, storage, facts, chatml_dataset, cfg.evaluation.model_dump(mode="json"),
                     context.partition_key, trained_model["run_id"], model)  # fmt: skip


@dg.asset(
    group_name="evaluation",
    kinds={"polars"},
    ins={
        "eval_report": dg.AssetIn(partition_mapping=dg.AllPartitionMapping()),
        "trained_model": dg.AssetIn(partition_mapping=dg.AllPartitionMapping()),
    },
    description="Every variant next to the base model: held-out perplexity, forgetting, fact recall, semantic "
    "entropy, layers, parameters, training speed. Variants not yet evaluated show as missing, not zero.",
)
def variant_comparison(
    eval_report: dict,
    trained_model: dict,
    base_model_report: dict,
    rag_baseline_report: dict,
    storage: StorageResource,
    model_configs: ModelConfigsResource,
) -> dg.MaterializeResult:
    reports = {v: EvalReport.from_dict(eval_report[v]) if v in eval_report else None for v in model_configs.variants()}
    stats = {v: load_training_stats(Path(m["output_dir"])) for v, m in trained_model.items()}
    table = compare_variants(reports, EvalReport.from_dict(base_model_report), stats,
                             retrieval=EvalReport.from_dict(rag_baseline_report))  # fmt: skip
    out = storage.layout.reports_dir / "comparison"
    markdown = comparison_markdown(table)
    write_text_atomic(out / "comparison.md", markdown)
    write_text_atomic(out / "comparison.csv", table.write_csv())
    bars = plot_metric_bars(table, out / "metrics.png")
    curves = plot_loss_curves(stats, out / "loss_curves.png")
    return dg.MaterializeResult(
        value={"table": table.to_dicts(), "markdown": str(out / "comparison.md")},
        metadata={
            "comparison": dg.MetadataValue.md(markdown),
            "metrics": markdown_image(bars, "metrics per variant"),
            "loss_curves": markdown_image(curves, "training loss per variant"),
            "evaluated_variants": sum(r is not None for r in reports.values()),
            "report_dir": dg.MetadataValue.path(str(out)),
        },
    )
