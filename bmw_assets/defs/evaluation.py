"""Evaluation assets: one report per variant, one for the base model, and their comparison."""

import warnings
from pathlib import Path

import dagster as dg

from bmw_assets.atomic import write_text_atomic
from bmw_assets.defs.metadata import markdown_image, metadata_table, rounded
from bmw_assets.defs.resources import (
    ComputeResource,
    FactsResource,
    ModelConfigsResource,
    StorageResource,
)
from bmw_assets.evaluation.comparison import (
    COLUMNS,
    compare_variants,
    comparison_markdown,
    empty_cell_notes,
    load_training_stats,
    samples_markdown,
    table_rows,
    unmeasured_reasons,
)
from bmw_assets.evaluation.plots import plot_loss_curves, plot_metric_bars
from bmw_assets.evaluation.report import EvalReport
from bmw_assets.evaluation.retrieval import RAG_VARIANT
from bmw_assets.evaluation.verdict import Change, Verdict, finite, metric_rows, significant, verdict
from bmw_assets.run_specs import EvaluatedModel
from bmw_assets.stages.evaluation import (
    BASE_VARIANT,
    plan_eval_run,
    record_eval,
    write_facts_file,
    write_heldout_texts,
)
from bmw_assets.training.artifacts import model_to_evaluate

BEATS_BASE_CHECK = "beats_base_on_heldout_perplexity"
FORGETTING_CHECK = "forgetting_within_limit"


def eval_checks(variants: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    """The verdict checks of `eval_report`, one result per variant partition."""
    with warnings.catch_warnings():
        # Per-partition check results (a verdict per variant) are a preview feature of Dagster 1.13.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [
            dg.AssetCheckSpec(
                BEATS_BASE_CHECK, asset="eval_report", partitions_def=variants,
                description="The variant's perplexity on the held-out test split is below the base model's (by more "
                "than two standard errors of the difference where they are known): fine-tuning taught it the press "
                "releases.",
            ),
            dg.AssetCheckSpec(
                FORGETTING_CHECK, asset="eval_report", partitions_def=variants,
                description="Forgetting: the variant's perplexity on general English text the base model did not "
                "write (general_perplexity, WordNet's glosses) is at most "
                "evaluation.max_forgetting_pct percent above the base model's.",
            ),
        ]  # fmt: skip


METRIC_COLUMNS = {
    "value": "rounded to 4 significant digits",
    "standard_error": "standard error of the value, where it can be computed",
    "n": "tokens or questions behind the value",
    "base": "the base model's value",
    "change_vs_base": "% of the base's value (percentage points for rates), and which direction is better",
}


def _evaluate(context, compute, storage, facts, dataset, measurement, variant, run_id, model, retrieval_corpus=None):
    """Run (or find) one evaluation; returns the report and the metadata the run streamed back."""
    layout = storage.layout
    per_split = measurement.fact_questions
    facts_path = layout.reports_dir / "facts" / f"{dataset['version'][:16]}-{per_split}.jsonl"
    write_facts_file(
        layout.catalog_path, dataset["version"], facts.facts(), facts_path, per_split, Path(dataset["path"])
    )
    max_tokens = measurement.heldout_max_tokens
    heldout_path = layout.reports_dir / "heldout" / f"{dataset['version'][:16]}-{max_tokens}.jsonl"
    write_heldout_texts(Path(dataset["path"]), heldout_path, max_tokens)
    plan = plan_eval_run(variant, run_id, measurement, model, facts_path, heldout_path, layout, retrieval_corpus,
                         dataset.get("system_prompt"))  # fmt: skip
    reported = {}
    if plan.completed:
        context.log.info(f"{plan.output_dir} already holds this evaluation")
    else:
        reported = compute.evaluate(context, plan.spec_path).get_materialize_result().metadata
    report = record_eval(layout.catalog_path, plan)
    return report, {k: rounded(v) for k, v in reported.items()} | {
        "report": dg.MetadataValue.path(str(plan.folder.report_markdown))
    }


def report_metadata(report: EvalReport, base: EvalReport | None) -> dict:
    """Rounded headline metrics, a table of every metric with its standard error, the base's value
    and the change against it, and the sample generations inline."""
    metrics, errors = report.metrics(), report.standard_errors()
    base_metrics, base_errors = (base.metrics(), base.standard_errors()) if base is not None else (None, {})
    metadata = {name: significant(value) for name, (value, _) in metrics.items() if finite(value) is not None}
    paired = report.paired_errors(base) if base is not None else {}
    metadata["metrics"] = metadata_table(metric_rows(metrics, errors, base_metrics, base_errors, paired),
                                         METRIC_COLUMNS)  # fmt: skip
    metadata["samples"] = dg.MetadataValue.md(samples_markdown({report.variant: report.samples}))
    return metadata


def evaluation_assets(variants: dg.PartitionsDefinition, pool: str) -> list[dg.AssetsDefinition]:
    """The evaluations, run in the Dagster pool `pool` (Settings.evaluation_pool), `eval_report` with one
    partition per variant in `variants`, and `variant_comparison`."""
    return [
        dg.asset(
            group_name="evaluation",
            kinds={"pytorch"},
            pool=pool,
            description="The base model measured like every variant (held-out perplexity, general-English perplexity, "
            "fact recall, semantic entropy, samples): the reference every variant is compared with.",
        )(base_model_report),
        dg.asset(
            group_name="evaluation",
            kinds={"pytorch"},
            pool=pool,
            description="The retrieval baseline (`base+rag`): the base model answering the same fact questions with "
            "the top passages of the training articles in its prompt (MiniLM embeddings). Answers whether fine-tuning "
            "is worth it against retrieval; no perplexity (the model is the base).",
        )(rag_baseline),
        dg.asset(
            partitions_def=variants,
            group_name="evaluation",
            kinds={"pytorch"},
            pool=pool,
            check_specs=eval_checks(variants),
            # Re-evaluate when this variant's model changes, not when the dataset alone is refreshed.
            automation_condition=dg.AutomationCondition.eager().allow(dg.AssetSelection.assets("trained_model")),
            description="One variant measured on the held-out test split: sliding-window perplexity, general-English "
            "perplexity, fact recall, semantic entropy and sample generations (Qwen3 thinking parsed), each against "
            "the base model (`metrics`, `verdict`). Follows its trained_model partition automatically; JSON + Markdown "
            "report under `reports/<variant>/<run_id>/`.",
        )(eval_report),
        variant_comparison,
    ]


def base_model_report(
    context: dg.AssetExecutionContext,
    base_model: dict,
    chatml_dataset: dict,
    storage: StorageResource,
    model_configs: ModelConfigsResource,
    facts: FactsResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    return _evaluate_base(context, compute, storage, facts, chatml_dataset, model_configs, base_model, BASE_VARIANT)


def _evaluate_base(
    context, compute, storage, facts, dataset, model_configs, base_model, variant, retrieval_corpus=None
):
    """The base model's evaluation (alone, or as the retrieval baseline), once per dataset version."""
    measurement = model_configs.base_model().evaluation.measurement()
    model = EvaluatedModel(path=base_model["path"])
    report, metadata = _evaluate(context, compute, storage, facts, dataset, measurement, variant, dataset["version"][:10],
                                 model, retrieval_corpus)  # fmt: skip
    return dg.MaterializeResult(value=report.to_dict(), metadata=metadata | report_metadata(report, None))


def rag_baseline(
    context: dg.AssetExecutionContext,
    base_model: dict,
    chatml_dataset: dict,
    storage: StorageResource,
    model_configs: ModelConfigsResource,
    facts: FactsResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    return _evaluate_base(context, compute, storage, facts, chatml_dataset, model_configs, base_model, RAG_VARIANT,
                          retrieval_corpus=Path(chatml_dataset["path"]) / "train.jsonl")  # fmt: skip


def eval_report(
    context: dg.AssetExecutionContext,
    trained_model: dict,
    chatml_dataset: dict,
    base_model: dict,
    base_model_report: dict,
    storage: StorageResource,
    model_configs: ModelConfigsResource,
    facts: FactsResource,
    compute: ComputeResource,
):  # no return annotation: with check specs Dagster would read MaterializeResult as a Nothing output
    cfg = model_configs.load(context.partition_key)
    model = model_to_evaluate(trained_model, base_model["path"])
    report, metadata = _evaluate(context, compute, storage, facts, chatml_dataset, cfg.evaluation.measurement(),
                                 context.partition_key, trained_model["run_id"], model)  # fmt: skip
    base = EvalReport.from_dict(base_model_report)
    judged = report_verdict(report, base, cfg.evaluation.max_forgetting_pct)
    return dg.MaterializeResult(
        value=report.to_dict(),
        # The verdict first: the UI lists entries in this order.
        metadata={"verdict": dg.MetadataValue.md(judged.line())} | metadata | report_metadata(report, base),
        check_results=verdict_checks(judged),
    )


def report_verdict(report: EvalReport, base: EvalReport, max_forgetting_pct: float) -> Verdict:
    return verdict(report.variant, report.metrics(), report.standard_errors(), base.metrics(),
                   base.standard_errors(), max_forgetting_pct, report.paired_errors(base))  # fmt: skip


def verdict_checks(judged: Verdict) -> list[dg.AssetCheckResult]:
    """The results of EVAL_CHECKS for one variant; they warn (a worse variant is a finding, not a
    broken run), and a value that cannot be computed fails its check saying so."""
    heldout, forgetting = judged.heldout, judged.forgetting
    return [
        dg.AssetCheckResult(
            check_name=BEATS_BASE_CHECK, passed=judged.beats_base, severity=dg.AssetCheckSeverity.WARN,
            description=heldout.text() if heldout else "held-out perplexity is missing in this report or the base's",
            metadata=_change_metadata(heldout),
        ),
        dg.AssetCheckResult(
            check_name=FORGETTING_CHECK, passed=judged.forgetting_within_limit, severity=dg.AssetCheckSeverity.WARN,
            description=(f"{forgetting.text()}; the limit is +{judged.max_forgetting_pct:g}%" if forgetting
                         else f"{judged.forgetting_metric} is missing in this report or the base's"),
            metadata=_change_metadata(forgetting) | {"metric": judged.forgetting_metric,
                                                     "max_forgetting_pct": judged.max_forgetting_pct},
        ),
    ]  # fmt: skip


def _change_metadata(moved: Change | None) -> dict:
    if moved is None:
        return {}
    return {"value": significant(moved.value), "base": significant(moved.base),
            "change": significant(moved.delta), "within_noise": dg.MetadataValue.text(str(moved.noise))}  # fmt: skip


# Once after a round of evaluations: when an eval_report has changed and no input is running or
# was just requested; a variant trained this very tick (whose evaluation the same tick requests) also
# makes it wait. Variants never evaluated do not hold it back (eager() would wait for all six), and
# since_last_handled makes it run once per change, not on every tick.
COMPARISON_AUTOMATION = (
    dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated())
    .allow(dg.AssetSelection.assets("eval_report"))
    .since_last_handled()
    & ~dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.in_progress() | dg.AutomationCondition.newly_requested()
    )
    & ~dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated()).allow(
        dg.AssetSelection.assets("trained_model")
    )
    & ~dg.AutomationCondition.in_progress()
    & ~dg.AutomationCondition.any_deps_match(dg.AutomationCondition.missing()).allow(
        dg.AssetSelection.assets("base_model_report", "rag_baseline")
    )
).with_label("after_new_evaluations")


@dg.asset(
    group_name="evaluation",
    kinds={"polars"},
    ins={
        "eval_report": dg.AssetIn(partition_mapping=dg.AllPartitionMapping()),
        "trained_model": dg.AssetIn(partition_mapping=dg.AllPartitionMapping()),
    },
    automation_condition=COMPARISON_AUTOMATION,
    description="Every variant next to the base model: a verdict line per variant, held-out perplexity, "
    "forgetting, fact recall, semantic entropy, layers, parameters, training speed, plots against the base and "
    "the sample generations side by side. Runs by itself once new eval_reports are in; a value that could "
    "not be measured (or a variant not yet evaluated) shows as an empty cell with the reason, never as zero.",
)
def variant_comparison(
    eval_report: dict,
    trained_model: dict,
    base_model_report: dict,
    rag_baseline: dict,
    storage: StorageResource,
    model_configs: ModelConfigsResource,
) -> dg.MaterializeResult:
    reports = {v: EvalReport.from_dict(eval_report[v]) if v in eval_report else None for v in model_configs.variants()}
    base = EvalReport.from_dict(base_model_report)
    retrieval = EvalReport.from_dict(rag_baseline)
    stats = {v: load_training_stats(Path(m["output_dir"])) for v, m in trained_model.items()}
    table = compare_variants(reports, base, stats, retrieval=retrieval)
    out = storage.layout.reports_dir / "comparison"
    reasons = unmeasured_reasons(reports, base, retrieval)
    markdown = comparison_markdown(table, reasons)
    write_text_atomic(out / "comparison.md", markdown)
    write_text_atomic(out / "comparison.csv", table.write_csv())
    bars, skipped = plot_metric_bars(table, out / "metrics.png")
    curves = plot_loss_curves(stats, out / "loss_curves.png")
    verdicts = [report_verdict(r, base, model_configs.load(v).evaluation.max_forgetting_pct) if r else None
                for v, r in reports.items()]  # fmt: skip
    lines = [
        judged.line() if judged else f"**{v}**: not evaluated yet." for v, judged in zip(reports, verdicts, strict=True)
    ]
    lines.append(
        f"**{RAG_VARIANT}** (retrieval baseline): fact recall on training articles "
        f"{retrieval.fact_recall['train']['rate']:.0%} against the base's {base.fact_recall['train']['rate']:.0%}."
    )
    samples = {"base": base.samples} | {v: r.samples for v, r in reports.items() if r is not None}
    metadata = {
        "verdict": dg.MetadataValue.md("\n".join(f"- {line}" for line in lines)),
        "comparison": metadata_table(table_rows(table), {c: f"{h} ({u})" if u else h for c, (h, u) in COLUMNS.items()}),
        "empty_cells": dg.MetadataValue.md(
            "\n".join(empty_cell_notes(table, reasons)) or "None: every value was measured."
        ),
        "samples": dg.MetadataValue.md(samples_markdown(samples)),
        "loss_curves": markdown_image(curves, "training loss per variant"),
        "skipped_plots": dg.MetadataValue.json(skipped),
        "evaluated_variants": sum(r is not None for r in reports.values()),
        "better_than_base": sum(j is not None and j.summary == "better" for j in verdicts),
        "report_dir": dg.MetadataValue.path(str(out)),
    }
    if bars is not None:
        metadata["metrics"] = markdown_image(bars, "metrics per variant against the base")
    return dg.MaterializeResult(
        value={"table": table.to_dicts(), "markdown": str(out / "comparison.md")}, metadata=metadata
    )
