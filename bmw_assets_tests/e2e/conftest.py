"""The stack a user operates with `make demo` + `make ui`, on a temp storage root: the replica on a
free loopback port, `transformers serve` with the packaged model, the data assets materialized
once in process, then `dagster-webserver` and `dagster-daemon run` as subprocesses, and Debian's
Chromium driven by Playwright (which never downloads a browser here)."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bmw_assets_tests.conftest import free_port, write_tiny_configs
from bmw_assets_tests.e2e.dagster_ui import REPO_ROOT, DagsterUI

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# Few articles keep the LLM filter (the slow data step on CPU) short. Six is the fewest for which
# the newest-article test split holds one article; the feed's first page then lists exactly these,
# so the sensor finds nothing new until the test publishes more.
PUBLISHED = 6


@dataclass
class Stack:
    ui: DagsterUI
    replica: object  # bmw_assets.replica.server.ReplicaServer
    storage: Path
    prep_seconds: float


@pytest.fixture(scope="session")
def chromium_browser():
    """Debian's Chromium under Playwright (tests using it skip where it is missing: see CHROMIUM)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def page(ui_stack: Stack, chromium_browser):
    """A fresh browser page on the webserver. Playwright's sync API runs an event loop in this thread,
    so it starts after the stack's in-process materialization (which uses asyncio.run)."""
    context = chromium_browser.new_context(viewport={"width": 1600, "height": 1000}, base_url=ui_stack.ui.url)
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the key screens go: $BMW_E2E_SCREENSHOTS (docs/img to refresh the user guide) or a temp dir."""
    target = os.environ.get("BMW_E2E_SCREENSHOTS")
    path = Path(target).resolve() if target else tmp_path_factory.mktemp("screens")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def ui_stack(base_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    import dagster as dg

    from bmw_assets.definitions import build_definitions
    from bmw_assets.defs.resources import (
        LLMEndpointResource,
        ModelConfigsResource,
        PressClubResource,
    )
    from bmw_assets.demo import DATA_ASSETS, stop_local_services
    from bmw_assets.llm_filter.endpoint import LocalEndpoint
    from bmw_assets.replica.server import ReplicaServer
    from bmw_assets.settings import load_settings

    storage = tmp_path_factory.mktemp("e2e_storage")
    dagster_home = storage / "dagster"
    dagster_home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    # The packaged model, dequantized once per test session, where the code location looks for it.
    (storage / "cache").mkdir()
    (storage / "cache" / "base_models").symlink_to(base_model_dir.parent)
    model_dir = str(storage / "cache" / "base_models" / base_model_dir.name)

    replica = ReplicaServer(published=PUBLISHED).start()
    endpoint = LocalEndpoint(model_dir, free_port(), storage / "logs" / "e2e-serve.log")
    settings = load_settings({"BMW_STORAGE": str(storage), "BMW_PROFILE": "local"})
    configs = write_tiny_configs(storage / "configs")
    env = {
        **os.environ,
        "BMW_PROFILE": "local",
        "BMW_STORAGE": str(storage),
        "DAGSTER_HOME": str(dagster_home),
        "BMW_PRESSCLUB_URL": replica.base_url,
        # An already running endpoint for llm_text in the local profile (see the report to the lead).
        "BMW_LLM_BASE_URL": endpoint.base_url,
        "BMW_LLM_MODEL": model_dir,
        "BMW_CONFIGS_DIR": str(configs),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONUNBUFFERED": "1",
    }
    ui = DagsterUI(port=free_port(), env=env, log_dir=storage / "logs")
    try:
        started = time.monotonic()
        endpoint.start()
        defs = build_definitions(settings)
        resources = dict(defs.resources or {})
        resources["pressclub"] = PressClubResource(profile="local", base_url=replica.base_url)
        resources["llm"] = LLMEndpointResource(profile="local", base_url=endpoint.base_url, model=model_dir)
        resources["model_configs"] = ModelConfigsResource(profile="local", configs_dir=str(configs))
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            result = dg.materialize(
                list(defs.assets or []),
                selection=DATA_ASSETS,
                resources=resources,
                instance=instance,
                run_config={"ops": {"article_index": {"config": {"target": PUBLISHED}}}},
            )
        assert result.success, "the data assets did not materialize before the UI started"
        ui.start_webserver()
        # Stopped before the daemon's first tick: the test starts it from the UI when it has published.
        ui.stop_sensor("new_press_releases")
        ui.skip_welcome_dialog()
        ui.start_daemon()
        yield Stack(ui=ui, replica=replica, storage=storage, prep_seconds=time.monotonic() - started)
    finally:
        ui.stop()
        stop_local_services(settings)
        endpoint.stop()
        replica.stop()
        print(f"e2e logs: {ui.log_dir}", file=sys.stderr)
