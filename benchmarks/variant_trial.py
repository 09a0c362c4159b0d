"""Try a variant's settings: train and evaluate it on data prepared once, then read what it learned.

    python benchmarks/variant_trial.py --storage DIR --configs DIR [--label NAME] VARIANT [VARIANT ...]

`--configs` is a copy of `configs/` with the settings to try (say, `profiles/local.yaml` with
another learning rate). The first call on a storage root runs the data assets, the base model
and its evaluation (the `ingest_and_prepare` and `evaluate_base_model` jobs); later calls reuse
them, so each trial costs only its training and evaluation. For each VARIANT it runs the
`train_variant` and `evaluate_variant` jobs into the instance under DIR/dagster and prints the
seconds, held-out and general-English perplexity against the base's, and fact recall with its
standard error and how many of the recalled answers are values the model gives for several
questions (a frequent value, likelier a guess than a memory). Each trial is appended to
benchmarks/results/variant_trial.json under `--label`.
"""

import argparse
import json
import os
import time
from pathlib import Path

import dagster as dg

from bmw_assets.definitions import build_definitions
from bmw_assets.defs import jobs
from bmw_assets.demo import step_seconds
from bmw_assets.evaluation.fact_recall import guessed_recalls
from bmw_assets.evaluation.report import EvalReport, read_report
from bmw_assets.run_folders import EvaluationFolder
from bmw_assets.settings import load_settings

RESULTS = Path(__file__).parent / "results" / "variant_trial.json"


def newest_report(reports_dir: Path, variant: str) -> EvalReport:
    folder = EvaluationFolder.newest(reports_dir, variant)
    if folder is None:
        raise RuntimeError(f"{variant} has no evaluation report under {reports_dir}")
    return read_report(folder.report_json)


def summary(report: EvalReport, base: EvalReport, seconds: dict[str, float]) -> dict:
    recall = report.fact_recall["train"]
    return {
        "heldout_perplexity": round(report.perplexity["perplexity"], 2),
        "base_heldout_perplexity": round(base.perplexity["perplexity"], 2),
        "forgetting_pct": round(100 * (report.general_text["perplexity"] / base.general_text["perplexity"] - 1), 1),
        "fact_recall_train": f"{sum(a['correct'] for a in recall['answers'])}/{recall['n']}",
        "fact_recall_se": round(recall["standard_error"], 3),
        "recalled_frequent_values": guessed_recalls(report.fact_recall["train"]["answers"]),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", type=Path, required=True, help="storage root, kept between trials")
    parser.add_argument("--configs", type=Path, required=True, help="a configs/ folder with the settings to try")
    parser.add_argument("--label", default=None, help="name of this trial in the results (default: the configs folder)")
    parser.add_argument("variants", nargs="+")
    args = parser.parse_args()
    env = {"BMW_STORAGE": str(args.storage.resolve()), "BMW_CONFIGS_DIR": str(args.configs.resolve())}
    os.environ.update(env)
    settings = load_settings(env)
    defs = build_definitions(settings)
    layout = settings.storage
    home = layout.root / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)

    with dg.DagsterInstance.get() as instance:

        def run(job: str, partition: str | None = None) -> dict[str, float]:
            started = time.monotonic()
            result = defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=partition,
                                                                  raise_on_error=True)  # fmt: skip
            print(f"{job} {partition or ''} done in {time.monotonic() - started:.0f} s", flush=True)
            return step_seconds(instance, result.run_id)

        if not instance.get_latest_materialization_event(dg.AssetKey("rag_baseline")):
            run(jobs.ingest_and_prepare.name)
            run(jobs.evaluate_base_model.name)
        base = newest_report(layout.reports_dir, "base")
        trials = {}
        for variant in args.variants:
            seconds = run(jobs.TRAIN_VARIANT, variant) | run(jobs.EVALUATE_VARIANT, variant)
            trials[variant] = summary(newest_report(layout.reports_dir, variant), base, seconds)
            print(json.dumps({variant: trials[variant]}, indent=1), flush=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[args.label or args.configs.name] = trials
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
