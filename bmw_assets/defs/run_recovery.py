"""Recovery of runs whose process died (`kill -9`, OOM, a power cut), and the instance check at start.

A run worker killed without warning leaves its run "started" and keeps the pool slots it claimed:
the next run of any asset in the `duckdb` pool would wait for the slot forever. Every run worker
records its pid in the run's engine events ("Executing steps in process (pid: N)", "Started
process for run (pid: N)"); a started run none of whose recorded processes is alive any more is
dead: it is marked failed and its slots are freed. A pid reused by a newer process does not count
as alive (its start time is compared with the event's). Only an instance whose runs run on this
host (the default run launcher: sqlite under $BMW_STORAGE, `make ui`, `make demo`) is looked at;
on Kubernetes the run pods' pids mean nothing here, and Dagster's run monitoring checks the pods.

Dagster's own run monitoring (dagster.yaml) frees the slots of runs that ended; it cannot tell that
an in-process run (`make demo`, `dg.materialize`) died, which is what this module adds: at the
demo's start and every 30 s through the `recover_dead_runs` sensor under `make ui`.
"""

from __future__ import annotations

import dagster as dg
import psutil

from bmw_assets.settings import Settings

# A process that started this many seconds after a run recorded its pid is another process.
_PID_REUSE_SLACK_S = 1.0


def _alive(pid: int, recorded_at: float) -> bool:
    try:
        return psutil.Process(pid).create_time() <= recorded_at + _PID_REUSE_SLACK_S
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:  # another user's process: cannot tell, so not declared dead
        return True


def _worker_pids(instance: dg.DagsterInstance, run_id: str) -> list[tuple[int, float]]:
    """(pid, timestamp) of each process the run's engine events say worked on it."""
    pids = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        pid = entry.dagster_event.engine_event_data.metadata.get("pid")
        if pid is not None and str(pid.value).isdigit():
            pids.append((int(pid.value), entry.timestamp))
    return pids


def dead_runs(instance: dg.DagsterInstance, exiting_pid: int | None = None) -> list[dg.DagsterRun]:
    """Started or cancelling runs that recorded worker processes, none of which is alive;
    `exiting_pid` (a process about to exit: the caller's own) counts as dead."""
    if not isinstance(instance.run_launcher, dg.DefaultRunLauncher):
        return []
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING])
    )
    dead = []
    for record in records:
        pids = _worker_pids(instance, record.dagster_run.run_id)
        if pids and not any(pid != exiting_pid and _alive(pid, recorded_at) for pid, recorded_at in pids):
            dead.append(record.dagster_run)
    return dead


def recover_dead_runs(instance: dg.DagsterInstance, exiting_pid: int | None = None) -> list[str]:
    """Mark each dead run failed and free the pool slots it held; free the slots still held by runs
    that ended (a run marked failed by hand keeps them otherwise). Returns the ids of the dead runs."""
    recovered = []
    for run in dead_runs(instance, exiting_pid):
        instance.report_run_failed(
            run, message="The run's process died or was stopped without ending the run; "
            "marked failed and its pool slots freed by bmw_assets' run recovery."
        )  # fmt: skip
        recovered.append(run.run_id)
    storage = instance.event_log_storage
    holding = storage.get_concurrency_run_ids()
    if holding:
        for record in instance.get_run_records(filters=dg.RunsFilter(run_ids=list(holding))):
            if record.dagster_run.is_finished:
                storage.free_concurrency_slots_for_run(record.dagster_run.run_id)
    return recovered


def location_pools(settings: Settings) -> tuple[str, ...]:
    """The pools this code location's assets run in: the catalog writers', training's and the
    evaluations'. Each must be limited, or DuckDB writers collide."""
    return tuple(sorted({"duckdb", "gpu", settings.evaluation_pool}))


def unlimited_pools(instance: dg.DagsterInstance, pools: tuple[str, ...]) -> list[str]:
    """The pools in `pools` that admit any number of steps on this instance (no default limit in
    dagster.yaml and no limit set for the pool itself)."""
    if instance.global_op_concurrency_default_limit is not None:
        return []
    limited = instance.event_log_storage.get_concurrency_keys()
    return sorted(set(pools) - limited)


def check_instance(instance: dg.DagsterInstance, pools: tuple[str, ...]) -> list[str]:
    """At start: refuse an instance on which any of `pools` is unlimited (RuntimeError saying how to
    fix it), then recover dead runs; returns their ids."""
    unlimited = unlimited_pools(instance, pools)
    if unlimited:
        raise RuntimeError(
            f"the Dagster instance at {instance.root_directory} sets no limit for the pools {', '.join(unlimited)}: "
            "its dagster.yaml is empty or lacks `concurrency: pools: default_limit: 1`, so two catalog writers "
            "would open the DuckDB file at once. Copy the project's dagster.yaml there (`make instance`)."
        )
    return recover_dead_runs(instance)


def recover_dead_runs_sensor(pools: tuple[str, ...]) -> dg.SensorDefinition:
    """The `recover_dead_runs` sensor of a code location whose assets run in `pools`."""

    @dg.sensor(
        name="recover_dead_runs",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Marks runs whose process died (killed, crashed) as failed and frees the pool slots they held, "
        "so later runs of the catalog assets are not blocked forever; also frees slots of runs that ended. Its ticks "
        "fail while the instance sets no pool limits (an empty dagster.yaml).",
    )
    def recover_dead_runs_tick(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        recovered = check_instance(context.instance, pools)
        if recovered:
            context.log.warning(f"marked failed and freed the slots of dead runs {', '.join(recovered)}")
        return dg.SkipReason(f"dead runs recovered: {', '.join(recovered) or 'none'}")

    return recover_dead_runs_tick
