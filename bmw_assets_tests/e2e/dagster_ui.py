"""The Dagster webserver and daemon as a user runs them, and the GraphQL reads the e2e test waits on.

Nothing here imports the code location: the webserver and the daemon load it in their own
processes from workspace.yaml, like `make ui` does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCATION = "bmw_assets"
REPOSITORY = "__repository__"
# Debian's Chromium, which Playwright drives (it downloads no browser here).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

T = TypeVar("T")


class GraphQLError(RuntimeError):
    """The webserver answered a GraphQL request with errors."""


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float, every_s: float = 2.0) -> T:
    """Call `probe` until it returns something not None; raise TimeoutError naming `what` after `timeout_s` s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}")
        time.sleep(every_s)


def open_markdown(page, label: str):
    """Where metadata entry `label`'s Markdown is rendered on a Playwright `page`: its row when short
    (the UI inlines Markdown of under 1,000 characters), else the dialog its [Show Markdown] link
    opens (left open). The row is scrolled into view first, for screenshots below the fold."""
    row = page.get_by_role("row").filter(has=page.get_by_text(label, exact=True)).first
    row.scroll_into_view_if_needed()
    link = row.get_by_text("[Show Markdown]")
    if link.count() == 0:
        return row
    link.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    return dialog


@dataclass
class DagsterUI:
    """`dagster-webserver` and `dagster-daemon run` on one instance, logging under `log_dir`."""

    port: int
    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, args: list[str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        # A session of its own, so stopping it also stops the code servers and run workers it started.
        self.processes[name] = subprocess.Popen(
            args, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def spawn_webserver(self) -> None:
        """Start the webserver; it loads the code location in the background (see wait_until_loaded)."""
        binary = str(Path(sys.executable).with_name("dagster-webserver"))
        self._spawn("webserver", [binary, "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(self.port)])

    def wait_until_loaded(self, timeout_s: float = 120) -> None:
        """Wait until the webserver answers /server_info and its code location has loaded."""
        wait_for("the webserver to answer /server_info", self._server_info, timeout_s, every_s=0.5)
        wait_for("the code location to load", self._location_loaded, timeout_s, every_s=0.5)

    def start_daemon(self) -> None:
        binary = str(Path(sys.executable).with_name("dagster-daemon"))
        self._spawn("daemon", [binary, "run", "-w", "workspace.yaml"])

    def stop(self, grace_s: float = 20) -> None:
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self.processes.clear()

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.is_file() else f"(no {name} log)"

    def _server_info(self) -> dict | None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")
        try:
            with urllib.request.urlopen(f"{self.url}/server_info", timeout=5) as response:
                return json.load(response)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def _location_loaded(self) -> bool | None:
        entries = self.graphql(
            """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
                 locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
        )["workspaceOrError"]["locationEntries"]
        entry = next((e for e in entries if e["name"] == LOCATION), None)
        if entry is None or entry["loadStatus"] != "LOADED":
            return None
        if entry["locationOrLoadError"]["__typename"] == "PythonError":
            raise RuntimeError(f"code location {LOCATION} failed to load: {entry['locationOrLoadError']['message']}")
        return True

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST one GraphQL request; return its `data`, raise GraphQLError on `errors`."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        if answer.get("errors"):
            raise GraphQLError(f"{query.split('{')[0].strip() or 'query'}: {answer['errors']}")
        return answer["data"]

    # --- reads and writes the test needs -------------------------------------------------------

    def skip_welcome_dialog(self) -> None:
        """The community sign-up dialog shows once per instance; mark it seen like clicking "Skip"."""
        self.graphql("mutation { setNuxSeen }")

    def daemons_healthy(self) -> bool | None:
        """True once every daemon the instance needs (backfills, run queue, sensors...) sends heartbeats."""
        statuses = self.graphql("{ instance { daemonHealth { allDaemonStatuses { required healthy } } } }")["instance"][
            "daemonHealth"
        ]["allDaemonStatuses"]
        return all(s["healthy"] for s in statuses if s["required"]) or None

    def sensor(self, name: str) -> dict[str, Any]:
        selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": name}
        sensor = self.graphql(
            """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename
                 ... on Sensor { id name minIntervalSeconds sensorState { status ticks(limit: 5) {
                   status timestamp runIds skipReason error { message } } } } } }""",
            {"s": selector},
        )["sensorOrError"]
        if sensor["__typename"] != "Sensor":
            raise GraphQLError(f"sensor {name!r} not found in {LOCATION}: {sensor}")
        return sensor

    def stop_sensor(self, name: str) -> None:
        result = self.graphql(
            "mutation($id: String!) { stopSensor(id: $id) { __typename ... on PythonError { message } } }",
            {"id": self.sensor(name)["id"]},
        )["stopSensor"]
        if result["__typename"] != "StopSensorMutationResult":
            raise GraphQLError(f"could not stop sensor {name!r}: {result}")

    def runs(self) -> list[dict[str, Any]]:
        """Every run of the instance, newest first, with status, tags and the assets it plans to
        materialize (a sensor's run of a target job has no asset selection of its own)."""
        return self.graphql(
            """{ runsOrError(limit: 200) { ... on Runs { results { runId status
                 tags { key value } assets { key { path } } } } } }"""
        )["runsOrError"]["results"]

    def run_failure(self, run_id: str) -> str:
        """The failure messages of a run's steps (and of the run), for an assertion message."""
        events = self.graphql(
            """query($id: ID!) { logsForRun(runId: $id, limit: 5000) { ... on EventConnection { events {
                 __typename ... on ExecutionStepFailureEvent { stepKey error { message stack } }
                 ... on RunFailureEvent { message } } } } }""",
            {"id": run_id},
        )["logsForRun"]["events"]
        lines = []
        for event in events:
            if event["__typename"] == "ExecutionStepFailureEvent" and event["error"]:
                stack = "".join(event["error"]["stack"][-3:])
                lines.append(f"step {event['stepKey']}: {event['error']['message']}{stack}")
            elif event["__typename"] == "RunFailureEvent":
                lines.append(f"run: {event['message']}")
        return "\n".join(lines) or "(no failure event)"

    def materializations(self, asset: str, partitions: list[str] | None = None) -> list[dict[str, Any]]:
        """Materialization events of `asset` (optionally of some partitions), newest first, with metadata labels."""
        return self.graphql(
            """query($a: AssetKeyInput!, $p: [String!]) { assetOrError(assetKey: $a) { ... on Asset {
                 assetMaterializations(partitions: $p) { partition runId timestamp
                 metadataEntries { label __typename ... on MarkdownMetadataEntry { mdStr }
                 ... on PathMetadataEntry { path } ... on IntMetadataEntry { intValue }
                 ... on FloatMetadataEntry { floatValue } ... on TextMetadataEntry { text } } } } } }""",
            {"a": {"path": [asset]}, "p": partitions},
        )["assetOrError"]["assetMaterializations"]

    def check_executions(self, asset: str, check: str) -> list[dict[str, Any]]:
        """Executions of one asset check (every partition), newest first, with their evaluation."""
        return self.graphql(
            """query($a: AssetKeyInput!, $c: String!) { assetCheckExecutions(assetKey: $a, checkName: $c, limit: 20) {
                 partition status evaluation { success description severity } } }""",
            {"a": {"path": [asset]}, "c": check},
        )["assetCheckExecutions"]


def tag(run: dict[str, Any], key: str) -> str | None:
    return next((t["value"] for t in run["tags"] if t["key"] == key), None)


def assets_of(run: dict[str, Any]) -> set[str]:
    return {"/".join(asset["key"]["path"]) for asset in run["assets"]}
