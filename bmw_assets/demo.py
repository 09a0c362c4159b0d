"""`python -m bmw_assets.demo` (what `make demo` runs): materialize the whole graph on the
active profile into the Dagster instance at $DAGSTER_HOME, then print the comparison.

Runs are recorded in the instance, so `make ui` shows them afterwards. Returns the
seconds each asset took, which `benchmarks/demo.py` records.
"""

import os
import queue
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg

from bmw_assets.definitions import build_definitions
from bmw_assets.settings import Settings, load_settings

DATA_ASSETS = ["article_index", "raw_pdfs", "regex_text", "llm_text", "chatml_dataset", "base_model", "base_model_report"]


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Wall seconds of each step of a finished run, from its start/success events in the instance."""
    started, seconds = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in started:
            seconds[event.step_key] = round(entry.timestamp - started[event.step_key], 2)
    return seconds


def run_demo(settings: Settings, instance: dg.DagsterInstance, say=print) -> dict[str, float]:
    defs = build_definitions(settings)
    assets = list(defs.assets or [])
    resources = dict(defs.resources or {})
    timings: dict[str, float] = {}

    def materialize(selection: list[str], partition: str | None = None) -> None:
        label = f"{', '.join(selection)}" + (f" [{partition}]" if partition else "")
        say(f"==> materializing {label}")
        started = time.monotonic()
        result = dg.materialize(assets, selection=selection, partition_key=partition, resources=resources,
                                instance=instance, raise_on_error=True)  # fmt: skip
        for step, seconds in step_seconds(instance, result.run_id).items():
            timings[f"{step}[{partition}]" if partition else step] = seconds
        say(f"    done in {time.monotonic() - started:.1f} s")

    materialize(DATA_ASSETS)
    # Training and evaluation use different pools, as under the daemon: while one variant is
    # evaluated the next one trains (one CPU thread each).
    trained: queue.Queue[str | None] = queue.Queue()

    def train_every_variant() -> None:
        try:
            for variant in resources["model_configs"].variants():
                materialize(["trained_model"], variant)
                trained.put(variant)
        finally:
            trained.put(None)

    with ThreadPoolExecutor(max_workers=1) as trainer:
        training = trainer.submit(train_every_variant)
        while (variant := trained.get()) is not None:
            materialize(["eval_report"], variant)
        training.result()
    materialize(["variant_comparison"])
    return timings


def stop_local_services(settings: Settings) -> None:
    """Stop the replica and `transformers serve` the local profile started (pid files under storage)."""
    for pid_file in (settings.storage.root / "replica" / "replica.pid", settings.storage.root / "logs" / "transformers-serve.pid"):
        if pid_file.is_file():
            try:
                os.killpg(int(pid_file.read_text().strip()), signal.SIGTERM)
            except (ProcessLookupError, ValueError, PermissionError):
                pass
            pid_file.unlink(missing_ok=True)


def main() -> int:
    settings = load_settings()
    if not os.environ.get("DAGSTER_HOME"):
        print("DAGSTER_HOME is not set: run `make demo`, which sets it to $BMW_STORAGE/dagster", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        with dg.DagsterInstance.get() as instance:
            run_demo(settings, instance)
    finally:
        if settings.profile == "local":
            stop_local_services(settings)
    comparison = settings.storage.reports_dir / "comparison" / "comparison.md"
    print(f"\nAll assets materialized in {(time.monotonic() - started) / 60:.1f} min on the {settings.profile} profile.\n")
    print(Path(comparison).read_text())
    print(f"\nReports: {settings.storage.reports_dir}  ·  catalog: {settings.storage.catalog_path}  ·  UI: make ui")
    return 0


if __name__ == "__main__":
    sys.exit(main())
