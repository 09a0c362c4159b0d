"""`python -m bmw_assets.demo` (what `make demo` runs): materialize the whole graph on the
active profile into the Dagster instance at $DAGSTER_HOME, then print the comparison.

Runs are recorded in the instance, so `make ui` shows them afterwards. Returns the
seconds each asset took, which `benchmarks/demo.py` records.
"""

import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from bmw_assets import local_services
from bmw_assets.definitions import build_definitions
from bmw_assets.defs import jobs
from bmw_assets.defs.resources import ModelConfigsResource
from bmw_assets.defs.run_recovery import check_instance, location_pools, recover_dead_runs
from bmw_assets.settings import Settings, load_settings
from bmw_assets.stop_signals import interrupt_on_stop_signals


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


def _materializer(settings: Settings, instance: dg.DagsterInstance, timings: dict[str, float], say) -> Callable:
    """A function running one of the code location's named jobs (bmw_assets.defs.jobs; one partition
    of it, if given) into `instance`, recording each step's seconds in `timings`."""
    defs = build_definitions(settings)

    def materialize(job: str, partition: str | None = None) -> None:
        label = job + (f" [{partition}]" if partition else "")
        say(f"==> running {label}")
        started = time.monotonic()
        result = defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=partition,
                                                              raise_on_error=True)  # fmt: skip
        for step, seconds in step_seconds(instance, result.run_id).items():
            timings[f"{step}[{partition}]" if partition else step] = seconds
        say(f"    {label} done in {time.monotonic() - started:.1f} s")

    return materialize


def _train_variants(settings: Settings, instance_ref, variants: list[str], trained) -> None:
    """Child process: trained_model for each variant in turn; puts (variant, step seconds) on the
    `trained` queue as each finishes, then (None, None), or (None, error text) on failure."""
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        timings: dict[str, float] = {}
        materialize = _materializer(settings, instance, timings, lambda line: print(line, flush=True))
        try:
            for variant in variants:
                materialize(jobs.TRAIN_VARIANT, variant)
                trained.put((variant, dict(timings)))
                timings.clear()
        except Exception as error:
            trained.put((None, f"{type(error).__name__}: {error}"))
            raise
        trained.put((None, None))


def training_order(configs: ModelConfigsResource) -> list[str]:
    """The variants in the order the demo trains them: the LoRA ones first. A LoRA variant is
    evaluated through its adapter, the slower kind, so the last evaluation, which nothing
    overlaps, is a full-weight one. A variant whose config fails goes last (its run fails alone)."""
    valid, _ = configs.load_valid()
    return sorted(configs.variants(), key=lambda v: (v not in valid, v in valid and valid[v].training.method != "lora"))


def evaluate_as_trained(trained, evaluate: Callable[[str], None], timings: dict[str, float]) -> None:
    """Evaluate each variant as the training process reports it done on the `trained` queue (see
    _train_variants), one at a time in this thread, adding the training steps' seconds to
    `timings`; raise when training failed. One run at a time in this process: Dagster sets up a
    run's logging with logging.config.dictConfig, which takes the logging module's lock and then
    each handler's, while a run already going holds its handler's lock and waits for the
    module's; two evaluations started together in threads hung `make demo` that way."""
    while (done := trained.get())[0] is not None:
        variant, train_timings = done
        timings.update(train_timings)
        evaluate(variant)
    if done[1] is not None:
        raise RuntimeError(f"training failed: {done[1]}")


def run_demo(settings: Settings, instance: dg.DagsterInstance, say=print) -> dict[str, float]:
    timings: dict[str, float] = {}
    materialize = _materializer(settings, instance, timings, say)
    materialize(jobs.ingest_and_prepare.name)
    # Training and evaluation use different pools, as under the daemon: a second process trains
    # the variants one after another while this one evaluates the base model, then each variant
    # as it is done (one CPU core each).
    spawn = multiprocessing.get_context("spawn")
    trained = spawn.Queue()
    configs = build_definitions(settings).resources["model_configs"]
    variants = configs.variants()
    trainer = spawn.Process(target=_train_variants, args=(settings, instance.get_ref(), training_order(configs), trained),
                            name="demo-training")  # fmt: skip
    trainer.start()
    try:
        materialize(jobs.evaluate_base_model.name)
        evaluate_as_trained(trained, lambda variant: materialize(jobs.EVALUATE_VARIANT, variant), timings)
        trainer.join()
    finally:
        if trainer.is_alive():
            trainer.terminate()
            trainer.join()
    materialize(jobs.compare_and_document.name)
    # Model cards last: they quote the comparison. Exports (merging LoRA adapters) are left to
    # `python -m bmw_assets.serve` or the UI, which make them when a variant is served or shared.
    for variant in variants:
        materialize(jobs.WRITE_MODEL_CARD, variant)
    return timings


def stop_local_services(settings: Settings) -> None:
    """Stop the replica and `transformers serve` this storage root's pid files name, if those still
    name the processes that were started (bmw_assets.local_services); none under a live deployment."""
    local_services.stop_local_services(settings.storage)


def run_until_stopped(instance: dg.DagsterInstance, work: Callable[[], object]) -> None:
    """Run `work` in a worker thread; on Ctrl-C or SIGTERM end this process's runs and children.

    Dagster takes SIGINT/SIGTERM over on the thread that executes a run and looks at them only
    between steps, so a step waiting for a pool slot never saw them. Here the main thread keeps the
    signals: it stops the training child, marks this process's runs failed (freeing their pool
    slots) and raises KeyboardInterrupt; the caller exits without waiting for the worker thread."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as error:  # handed to the main thread
            failure.append(error)

    interrupt_on_stop_signals()
    worker = threading.Thread(target=target, name="demo-runs", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.5)
    except KeyboardInterrupt:
        for child in multiprocessing.active_children():
            child.terminate()
            child.join(10)
            if child.is_alive():  # Dagster holds SIGTERM back while its run waits for a pool slot
                child.kill()
                child.join()
        stopped = recover_dead_runs(instance, exiting_pid=os.getpid())
        print(f"\nInterrupted: runs {', '.join(stopped) or 'none'} marked failed, their pool slots freed.", flush=True)
        raise
    if failure:
        raise failure[0]


def main() -> int:
    settings = load_settings()
    if not os.environ.get("DAGSTER_HOME"):
        print("DAGSTER_HOME is not set: run `make demo`, which sets it to $BMW_STORAGE/dagster", file=sys.stderr)
        return 2
    started, interrupted = time.monotonic(), False
    try:
        with dg.DagsterInstance.get() as instance:
            for run_id in check_instance(instance, location_pools(settings)):
                print(f"run {run_id} had died holding pool slots: marked failed, its slots freed")
            run_until_stopped(instance, lambda: run_demo(settings, instance))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stop_local_services(settings)
    if interrupted:
        sys.stdout.flush()
        os._exit(130)  # the worker thread may be inside a step: do not wait for it
    comparison = settings.storage.reports_dir / "comparison" / "comparison.md"
    print(
        f"\nAll assets materialized in {(time.monotonic() - started) / 60:.1f} min on the {settings.profile} profile.\n"
    )
    print(Path(comparison).read_text())
    print(f"\nReports: {settings.storage.reports_dir}  ·  catalog: {settings.storage.catalog_path}  ·  UI: make ui")
    return 0


if __name__ == "__main__":
    sys.exit(main())
