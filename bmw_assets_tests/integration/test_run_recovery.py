"""A killed run must not wedge the catalog: real processes, a real Dagster instance (the project's
dagster.yaml in a temp DAGSTER_HOME), the replica on loopback and a real DuckDB catalog.

A child process materializes `article_index` and `raw_pdfs`; the test `kill -9`s it while it holds
the `duckdb` pool slot. The next materialization of a catalog asset, in another process, used to
wait forever ("Step blocked by limit for pool duckdb"). The code location's recovery (the
`recover_dead_runs` sensor, and the demo's start) marks the dead run failed and frees its slots.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from bmw_assets.defs.run_recovery import check_instance, location_pools, recover_dead_runs, recover_dead_runs_sensor
from bmw_assets.replica import Faults, ReplicaServer
from bmw_assets.settings import load_settings

PROJECT = Path(__file__).resolve().parents[2]
POOLS = location_pools(load_settings({}))  # the local profile's: duckdb, evaluation, gpu

# One materialization of the two ingestion assets into the instance at $DAGSTER_HOME.
MATERIALIZE = r"""
import sys
from pathlib import Path
import dagster as dg
from bmw_assets.definitions import build_resources
from bmw_assets.defs import ingestion
from bmw_assets.defs.resources import ReplicaPressClubResource
from bmw_assets.settings import load_settings

base_url, root = sys.argv[1], Path(sys.argv[2])
resources = build_resources(load_settings({"BMW_STORAGE": str(root)}))
resources["pressclub"] = ReplicaPressClubResource(base_url=base_url, default_target=12)
with dg.DagsterInstance.get() as instance:
    result = dg.materialize([ingestion.article_index, ingestion.raw_pdfs], resources=resources, instance=instance)
print("materialized" if result.success else "failed", flush=True)
"""


@pytest.fixture()
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(PROJECT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def start_materialize(replica: ReplicaServer, root: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", MATERIALIZE, replica.base_url, str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def kill_while_holding_the_duckdb_slot(replica: ReplicaServer, root: Path) -> str:
    """Start a materialization, SIGKILL it once article_index is fetching (the slot is claimed);
    return the killed run's id."""
    child = start_materialize(replica, root)
    deadline = time.monotonic() + 90
    while replica.stats.get("rss", 0) < 1:
        assert child.poll() is None, child.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "article_index never started"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    with dg.DagsterInstance.get() as instance:
        (record,) = instance.get_run_records()
        assert record.dagster_run.status == dg.DagsterRunStatus.STARTED  # what the kill left
        return record.dagster_run.run_id


def assert_next_materialization_completes(replica: ReplicaServer, root: Path, timeout_s: float = 120) -> None:
    child = start_materialize(replica, root)
    try:
        out, err = child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        blocked = "blocked by limit for pool duckdb" in err + out
        waited = f"the next run still waits after {timeout_s:.0f} s (blocked on duckdb: {blocked})"
        raise AssertionError(waited) from None
    assert child.returncode == 0 and "materialized" in out, err[-3000:]


@pytest.fixture()
def replica():
    with ReplicaServer(faults=Faults(latency_s=0.3)) as server:
        yield server


def test_the_sensor_recovers_a_run_killed_holding_the_duckdb_slot(replica, dagster_home, tmp_path):
    killed = kill_while_holding_the_duckdb_slot(replica, tmp_path / "storage")
    with dg.DagsterInstance.get() as instance:
        result = recover_dead_runs_sensor(POOLS)(dg.build_sensor_context(instance=instance))
        assert killed in str(result)
        run = instance.get_run_by_id(killed)
        assert run.status == dg.DagsterRunStatus.FAILURE
        # A second pass finds nothing left to do.
        assert recover_dead_runs(instance) == []
    replica.faults.latency_s = 0.0
    assert_next_materialization_completes(replica, tmp_path / "storage")


@pytest.mark.slow  # ~40-75 s of real runs on 2 cores
def test_a_killed_run_marked_failed_by_hand_gives_its_slot_back(replica, dagster_home, tmp_path):
    killed = kill_while_holding_the_duckdb_slot(replica, tmp_path / "storage")
    with dg.DagsterInstance.get() as instance:
        instance.report_run_failed(instance.get_run_by_id(killed))  # what "mark as failed" in the UI does
        assert recover_dead_runs(instance) == []  # no started run is left, but the slot is freed
    replica.faults.latency_s = 0.0
    assert_next_materialization_completes(replica, tmp_path / "storage")


@pytest.mark.slow  # ~40-75 s of real runs on 2 cores
def test_the_demo_start_recovers_a_killed_run_and_a_live_run_is_left_alone(replica, dagster_home, tmp_path):
    killed = kill_while_holding_the_duckdb_slot(replica, tmp_path / "storage")
    live = start_materialize(replica, tmp_path / "other")  # blocked behind the dead run, alive
    try:
        time.sleep(8)  # its run is created and waits for the slot
        with dg.DagsterInstance.get() as instance:
            assert check_instance(instance, POOLS) == [killed]
        replica.faults.latency_s = 0.0
        out, err = live.communicate(timeout=120)
        assert live.returncode == 0 and "materialized" in out, err[-3000:]
    finally:
        live.kill()
    with dg.DagsterInstance.get() as instance:
        statuses = sorted(r.dagster_run.status.value for r in instance.get_run_records())
        assert statuses == ["FAILURE", "SUCCESS"]


def test_an_instance_without_pool_limits_is_refused_clearly(tmp_path, monkeypatch):
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("")  # an empty dagster.yaml: no pool is limited any more
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        with pytest.raises(RuntimeError, match=r"no limit for the pools .*duckdb.*dagster\.yaml"):
            check_instance(instance, POOLS)


@pytest.mark.slow  # ~40-75 s of real runs on 2 cores
def test_the_demo_stops_on_sigterm_while_waiting_for_a_pool_slot(replica, dagster_home, tmp_path):
    replica.faults.latency_s = 3.0  # the live run below holds the duckdb slot for ~30 s
    holder = start_materialize(replica, tmp_path / "storage")
    env = {**os.environ, "BMW_PROFILE": "local", "BMW_STORAGE": str(tmp_path / "demo"),
           "BMW_PRESSCLUB_URL": replica.base_url}  # fmt: skip
    demo = subprocess.Popen([sys.executable, "-m", "bmw_assets.demo"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        with dg.DagsterInstance.get() as instance:
            deadline = time.monotonic() + 90
            while len(instance.get_run_records()) < 2:  # the demo's first run exists: it waits for the slot
                assert demo.poll() is None and holder.poll() is None, demo.communicate()[0][-3000:]
                assert time.monotonic() < deadline, "the demo never started its first run"
                time.sleep(0.2)
            time.sleep(2)
            demo.send_signal(signal.SIGTERM)
            try:
                out, _ = demo.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                raise AssertionError("the demo ignored SIGTERM for 30 s") from None
            assert demo.returncode == 130 and "Interrupted" in out, out[-3000:]
            runs = {r.dagster_run.run_id: r.dagster_run.status for r in instance.get_run_records()}
            assert sorted(s.value for s in runs.values()) == ["FAILURE", "STARTED"]  # the demo's, the holder's
        replica.faults.latency_s = 0.0
        out, err = holder.communicate(timeout=120)
        assert holder.returncode == 0 and "materialized" in out, err[-3000:]
    finally:
        demo.kill()
        holder.kill()


def test_the_sensor_tick_fails_on_an_instance_without_pool_limits(tmp_path, monkeypatch):
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # the pools section lost
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        with pytest.raises(RuntimeError, match="sets no limit for the pools duckdb, evaluation, gpu"):
            recover_dead_runs_sensor(POOLS)(dg.build_sensor_context(instance=instance))
