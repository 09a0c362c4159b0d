"""Time `make demo`'s work: the whole graph on the local profile, asset by asset.

    python benchmarks/demo.py [--storage DIR] [--setup-seconds S] [--results FILE]

Starts from an empty storage root (the packaged model is dequantized again too, as on a
fresh clone), materializes every asset and every variant, prints where the time goes and
what the variants learned (the comparison's perplexities and fact recall, with their
standard errors) and writes benchmarks/results/demo.json. Target: set-up (`make setup` on
a fresh clone, timed by the caller and passed as --setup-seconds) plus the whole graph
within 15 minutes on a 2-core machine. Where the CPU computes in bf16 (AVX512 or AMX; the
local profile's `cpu_bf16`), training and evaluation take about half as long as in fp32:
demo.json records which it was.
"""

import argparse
import csv
import json
import math
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import dagster as dg

from bmw_assets.demo import run_demo, stop_local_services
from bmw_assets.evaluation.fact_recall import guessed_recalls
from bmw_assets.evaluation.report import read_report
from bmw_assets.models.loading import cpu_has_bf16
from bmw_assets.run_folders import EvaluationFolder
from bmw_assets.settings import StorageLayout, load_settings

TARGET_SECONDS = 15 * 60
REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "results" / "demo.json"
LEARNING = (
    "heldout_perplexity",
    "general_perplexity",
    "forgetting_change_pct",
    "fact_recall_train",
    "fact_recall_test",
    "fact_perplexity_train",
    "fact_perplexity_test",
)


def learning(layout: StorageLayout) -> dict[str, dict]:
    """Per compared row (base, base+rag, each variant): the comparison's learning columns, and the
    standard errors and question counts of its newest report, how many of its recalled training
    facts are values it also gives to other questions (guesses); against the base, log(row / base)
    and its paired standard error for each perplexity both scored on the same units."""
    rows = {}
    with (layout.reports_dir / "comparison" / "comparison.csv").open(encoding="utf-8") as file:
        for row in csv.DictReader(file):
            rows[row["variant"]] = {key: float(row[key]) if row[key] else None for key in LEARNING}
    reports = {variant: read_report(folder.report_json) for variant in rows
               if (folder := EvaluationFolder.newest(layout.reports_dir, variant)) is not None}  # fmt: skip
    base = reports.get("base")
    for variant, report in reports.items():
        row = rows[variant]
        row["standard_errors"] = report.standard_errors()
        row["fact_questions"] = {split: result["n"] for split, result in report.fact_recall.items()}
        row["recalled_frequent_values"] = guessed_recalls(report.fact_recall["train"]["answers"])
        if base is not None and report is not base:
            row["log_ratio_vs_base"] = {metric: {"value": round(math.log(row[metric] / rows["base"][metric]), 4),
                                                 "paired_standard_error": round(error, 4)}
                                        for metric, error in report.paired_errors(base).items()}  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", type=Path, default=None, help="empty storage root (default: a temp folder)")
    parser.add_argument("--setup-seconds", type=float, default=0.0, help="seconds `make setup` took (fresh clone)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"where the JSON goes (default: {RESULTS})")
    args = parser.parse_args()
    root = args.storage or Path(tempfile.mkdtemp(prefix="bmw-demo-"))
    settings = load_settings({"BMW_STORAGE": str(root)})
    os.environ["BMW_STORAGE"] = str(root)
    started = time.monotonic()
    try:
        # The instance `make demo` uses (the project's dagster.yaml in $BMW_STORAGE/dagster, its
        # pool limits included), so the timings are the demo's and `make ui` or
        # benchmarks/demo_screenshots.py can show the runs afterwards.
        home = root / "dagster"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
        with dg.DagsterInstance.from_config(str(home)) as instance:
            timings = run_demo(settings, instance, say=lambda line: print(line, flush=True))
    finally:
        stop_local_services(settings)
    graph = time.monotonic() - started
    total = graph + args.setup_seconds
    rows = sorted(timings.items(), key=lambda item: -item[1])
    print(f"\n{'step':<40} {'seconds':>8} {'share':>6}")
    for step, seconds in rows:
        print(f"{step:<40} {seconds:>8.1f} {seconds / total:>6.1%}")
    print(f"{'graph (wall)':<40} {graph:>8.1f}")
    print(f"{'set-up (make setup, given)':<40} {args.setup_seconds:>8.1f}")
    verdict = "meets" if total <= TARGET_SECONDS else "misses"
    print(f"{'total':<40} {total:>8.1f}   {verdict} the {TARGET_SECONDS / 60:.0f}-minute target")
    learned = learning(settings.storage)
    print(f"\n{'row':<16}" + "".join(f"{key:>24}" for key in LEARNING))
    for variant, row in learned.items():
        print(f"{variant:<16}" + "".join(f"{'-' if row[k] is None else f'{row[k]:.3f}':>24}" for k in LEARNING))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({
        "total_seconds": round(total, 1), "graph_seconds": round(graph, 1), "setup_seconds": args.setup_seconds,
        "target_seconds": TARGET_SECONDS, "steps": dict(rows), "learning": learned,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "cpu_has_bf16": cpu_has_bf16()},
    }, indent=2) + "\n")  # fmt: skip
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
