"""The local profile's background services (the PressClub replica, `transformers serve`): their pid
files, and stopping exactly the processes that were started.

A service runs detached in its own session (its pid is its process group's id), so it outlives the
run that started it. Its pid file records the pid with the process's start time and command line;
a pid is reused once its process is gone, so a service is signalled only while the process holding
that pid is still the one recorded. A stale or unreadable pid file is removed and nothing is
signalled.

Command line: `python -m bmw_assets.local_services stop` stops the services under $BMW_STORAGE;
`python -m bmw_assets.local_services run -- CMD...` runs CMD (`make ui`: `dagster dev`) and stops
them when it ends, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from bmw_assets.atomic import write_text_atomic
from bmw_assets.settings import StorageLayout, load_settings


def service_pid_files(layout: StorageLayout) -> list[Path]:
    """Where the local profile's services record themselves: the replica, then `transformers serve`."""
    return [layout.root / "replica" / "replica.pid", layout.root / "logs" / "transformers-serve.pid"]


def _seconds_after_boot(process: psutil.Process) -> float:
    """When `process` started, in seconds after boot. Its start in epoch seconds moves whenever the
    system clock is adjusted (psutil adds the kernel's boot time, whole seconds that shift with
    the clock), which made a running service look like another process."""
    return process.create_time() - psutil.boot_time()


def write_pid_file(path: Path, pid: int) -> None:
    """Record process `pid` (started in its own session) in `path`: pid, start time, command line."""
    process = psutil.Process(pid)
    record = {"pid": pid, "started_after_boot": _seconds_after_boot(process), "cmdline": process.cmdline()}
    write_text_atomic(path, json.dumps(record) + "\n")


def release_pid_file(path: Path) -> None:
    """Remove `path` if it records this process: a service ending on its own leaves no stale file."""
    try:
        if json.loads(path.read_text())["pid"] == os.getpid():
            path.unlink(missing_ok=True)
    except (OSError, ValueError, TypeError, KeyError):
        pass


def recorded_process(path: Path) -> psutil.Process | None:
    """The process `path` records, if it is still that process (same start time and command line)
    and leads its own process group; None otherwise."""
    try:
        record = json.loads(path.read_text())
        process = psutil.Process(int(record["pid"]))
        same = (
            abs(_seconds_after_boot(process) - record["started_after_boot"]) < 0.05
            and process.cmdline() == record["cmdline"]
        )
        return process if same and os.getpgid(process.pid) == process.pid else None
    except (OSError, ValueError, TypeError, KeyError, psutil.Error):
        return None


def stop_recorded(path: Path, grace_s: float = 10.0) -> bool:
    """Stop the service `path` records (SIGTERM to its process group, SIGKILL after `grace_s`
    seconds) when it is still the recorded process; remove the pid file. True if one was stopped."""
    process = recorded_process(path)
    path.unlink(missing_ok=True)
    if process is None:
        return False
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace_s)
    except psutil.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(grace_s)
    except (ProcessLookupError, psutil.NoSuchProcess):
        pass
    return True


def stop_local_services(layout: StorageLayout) -> list[Path]:
    """Stop the services under `layout` that are still the processes their pid files record;
    returns the pid files of those stopped."""
    return [path for path in service_pid_files(layout) if path.is_file() and stop_recorded(path)]


def run_then_stop(command: list[str], layout: StorageLayout) -> int:
    """Run `command` until it ends, then stop the local services it started; returns its exit code.

    A terminal's Ctrl-C reaches the command itself (same process group), so here it only must not
    end this process first; SIGTERM is passed on. Handlers, not SIG_IGN: an ignored signal would
    stay ignored in the command too."""
    child = subprocess.Popen(command)
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signal.SIGTERM))
    try:
        return child.wait()
    finally:
        stop_local_services(layout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bmw_assets.local_services", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("stop", help="stop the replica and transformers serve started under $BMW_STORAGE")
    run = commands.add_parser("run", help="run a command, then stop the services it started")
    run.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    layout = load_settings().storage
    if args.command == "stop":
        for path in stop_local_services(layout):
            print(f"stopped the service recorded in {path}")
        return 0
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not command:
        parser.error("run needs a command after --")
    return run_then_stop(command, layout)


if __name__ == "__main__":
    sys.exit(main())
