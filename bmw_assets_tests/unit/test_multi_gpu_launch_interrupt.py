"""The multi-GPU launch check's `--interrupt` (benchmarks/multi_gpu_launch.py), on a CPU: the
kill at the first checkpoint reaches processes that left the launcher's session, as torch's
elastic agent starts its ranks."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import textwrap
import time
from pathlib import Path

import psutil

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "multi_gpu_launch.py"
_SPEC = importlib.util.spec_from_file_location("multi_gpu_launch", _PATH)
launch_check = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(launch_check)

# A launcher that starts a "rank" in a session of its own; the rank writes checkpoint-3
# (trainer_state.json last, as the Trainer does) and the rank's pid, then both wait.
_LAUNCHER = textwrap.dedent("""
    import subprocess, sys, time
    rank = '''
    import os, pathlib, sys, time
    out = pathlib.Path(sys.argv[1])
    (out / "rank.pid").write_text(str(os.getpid()))
    checkpoint = out / "checkpoint-3"
    checkpoint.mkdir(parents=True)
    (checkpoint / "model.safetensors").write_bytes(b"")
    (checkpoint / "trainer_state.json").write_text("{}")
    time.sleep(600)
    '''
    subprocess.Popen([sys.executable, "-c", rank, sys.argv[1]], start_new_session=True)
    time.sleep(600)
""")


def test_kill_at_first_checkpoint_stops_ranks_in_other_sessions(tmp_path):
    output_dir = tmp_path / "run"
    output_dir.mkdir()
    command = [sys.executable, "-c", _LAUNCHER, str(output_dir)]

    step = launch_check.kill_at_first_checkpoint(command, output_dir, tmp_path / "killed.log", timeout=60)

    assert step == 3
    pid = int((output_dir / "rank.pid").read_text())
    try:
        assert _ends_within(pid, seconds=10)
    finally:  # a failing check leaves no sleeping rank behind
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()


def _ends_within(pid: int, seconds: float) -> bool:
    """Whether `pid` is gone (or a zombie: killed, not yet reaped) within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_kill_at_first_checkpoint_reports_a_run_that_ends_first(tmp_path):
    command = [sys.executable, "-c", "pass"]
    assert launch_check.kill_at_first_checkpoint(command, tmp_path, tmp_path / "killed.log", timeout=60) is None
