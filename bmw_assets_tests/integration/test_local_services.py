"""Stopping the local profile's services stops what was started and nothing else: real processes,
the real replica on loopback, real signals. A pid file whose pid now belongs to another process
(the service died, the pid was reused) must not get that process or its group signalled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from bmw_assets.demo import stop_local_services
from bmw_assets.local_services import recorded_process, write_pid_file
from bmw_assets.replica.server import _answers, ensure_replica_running
from bmw_assets.settings import load_settings
from bmw_assets_tests.conftest import free_port


@pytest.fixture()
def bystander():
    """A process of someone else's, leading its own process group, as a reused pid would be."""
    process = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


@pytest.mark.parametrize("record", ["bare pid", "other start time"])
def test_a_pid_file_naming_a_replaced_process_signals_nothing(tmp_path, bystander, record):
    settings = load_settings({"BMW_STORAGE": str(tmp_path)})
    pid_file = tmp_path / "replica" / "replica.pid"
    pid_file.parent.mkdir(parents=True)
    if record == "bare pid":  # what the replica wrote so far: nothing to check the process against
        pid_file.write_text(f"{bystander.pid}\n")
    else:
        cmdline = [sys.executable, "-m", "bmw_assets.replica", "serve"]
        started = psutil.Process(bystander.pid).create_time() - psutil.boot_time() - 3600
        pid_file.write_text(json.dumps({"pid": bystander.pid, "started_after_boot": started, "cmdline": cmdline}))
    stop_local_services(settings)
    time.sleep(0.2)
    assert bystander.poll() is None, "a process that was not started by the project was signalled"
    assert not pid_file.exists(), "the stale pid file stays"


def test_a_service_is_still_recognised_after_the_system_clock_is_adjusted(tmp_path, bystander, monkeypatch):
    """NTP or the hypervisor moving the clock shifts the boot time psutil adds to every process's
    start (whole seconds); the service recorded before must still be found, or it is never stopped
    (a CI run's `transformers serve` outlived its test that way). The clock itself cannot be
    moved in a test, so psutil's boot-time reading is shifted by a second instead."""
    pid_file = tmp_path / "service.pid"
    write_pid_file(pid_file, bystander.pid)
    clock_before = psutil._pslinux.boot_time()
    monkeypatch.setattr(psutil._pslinux, "boot_time", lambda: clock_before + 1.0)
    recorded = recorded_process(pid_file)
    assert recorded is not None and recorded.pid == bystander.pid


def test_a_replica_started_on_demand_is_stopped_and_its_pid_file_removed(tmp_path):
    port = free_port()
    ensure_replica_running(port, tmp_path / "replica")
    pid_file = tmp_path / "replica" / "replica.pid"
    assert pid_file.exists()  # ensure_replica_running returns once the replica has recorded itself
    stop_local_services(load_settings({"BMW_STORAGE": str(tmp_path)}))
    assert not _answers(port) and not pid_file.exists()


@pytest.mark.parametrize("stop", ["sigterm", "ctrl-c"])
def test_make_ui_stops_the_replica_it_started_when_interrupted(tmp_path, stop):
    port = free_port()
    starts_a_replica = (
        "import time; from pathlib import Path; from bmw_assets.replica.server import ensure_replica_running; "
        f"ensure_replica_running({port}, Path({str(tmp_path / 'replica')!r})); print('up', flush=True); time.sleep(300)"
    )
    ui = subprocess.Popen(
        [sys.executable, "-m", "bmw_assets.local_services", "run", "--", sys.executable, "-c", starts_a_replica],
        env={**os.environ, "BMW_STORAGE": str(tmp_path)}, stdout=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )  # fmt: skip
    try:
        assert ui.stdout.readline().strip() == "up" and _answers(port)
        if stop == "sigterm":
            ui.send_signal(signal.SIGTERM)
        else:  # a terminal sends Ctrl-C to the whole foreground group: the wrapper and the command
            os.killpg(ui.pid, signal.SIGINT)
        assert ui.wait(timeout=30) != 0
        assert not _answers(port), "the replica outlived `make ui`"
        assert not (tmp_path / "replica" / "replica.pid").exists()
    finally:
        ui.kill()
