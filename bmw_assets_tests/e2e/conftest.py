"""The stack a user operates with `make demo` + `make ui`, on a temp storage root: the replica on a
free loopback port, `transformers serve` with the packaged model, the data assets materialized
once in process, then `dagster-webserver` and `dagster-daemon run` as subprocesses, and Debian's
Chromium driven by Playwright (which never downloads a browser here)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from bmw_assets_tests.conftest import free_port, write_tiny_configs
from bmw_assets_tests.e2e.dagster_ui import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, DagsterUI

# Few articles keep the LLM filter (the slow data step on CPU) short; with six the hashed splits
# give train five articles and validation one. The feed's first page then lists exactly these, so
# the sensor finds nothing new until the test publishes more.
PUBLISHED = 6
# On top of the suite's tiny profile: only `qa` rows (a few dozen short conversations, so a
# validation pass takes a second, not a minute), perplexity in whole windows (each token
# scored once, not twice over overlapping windows), one fact question.
E2E_PROFILE = {
    "training": {"styles": ["qa"]},
    "evaluation": {"perplexity_max_length": 256, "perplexity_stride": 256, "batch_size": 4, "max_new_tokens": 4,
                   "fact_questions": 1},
}  # fmt: skip
# Daemon settings of the test's instance: sensors evaluate in threads of their own (the automation
# sensor never waits behind the press-room poll) and the run queue is read every second.
TEST_INSTANCE = {
    "sensors": {"use_threads": True, "num_workers": 2},
    "run_coordinator": {"config": {"dequeue_interval_seconds": 1}},
}


@dataclass
class Stack:
    ui: DagsterUI
    replica: object  # bmw_assets.replica.server.ReplicaServer
    storage: Path


@pytest.fixture(scope="module")
def chromium_browser(ui_stack: Stack):
    """Debian's Chromium under Playwright (tests using it skip where it is missing: see CHROMIUM).
    Playwright's sync API runs an event loop in this thread, so it starts after the stack's
    in-process materialization (which uses asyncio.run): hence the dependency on ui_stack."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def page(ui_stack: Stack, chromium_browser):
    """A fresh browser page on the webserver. Actions and assertions wait up to 30 s: on two busy
    cores (a training next door) the UI can take far longer than Playwright's 5 s default to render."""
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
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
    from bmw_assets.defs.jobs import DATA_ASSETS
    from bmw_assets.demo import stop_local_services
    from bmw_assets.llm_filter.endpoint import LocalEndpoint
    from bmw_assets.replica.server import ReplicaServer
    from bmw_assets.settings import load_settings

    storage = tmp_path_factory.mktemp("e2e_storage")
    dagster_home = storage / "dagster"
    write_test_instance(dagster_home)
    # The packaged model, dequantized once per test session, where the code location looks for it.
    (storage / "cache").mkdir()
    (storage / "cache" / "base_models").symlink_to(base_model_dir.parent)
    model_dir = str(storage / "cache" / "base_models" / base_model_dir.name)

    replica = ReplicaServer(published=PUBLISHED).start()
    endpoint = LocalEndpoint(model_dir, free_port(), storage / "logs" / "e2e-serve.log")
    env = {
        "BMW_PROFILE": "local",
        "BMW_STORAGE": str(storage),
        "DAGSTER_HOME": str(dagster_home),
        "BMW_PRESSCLUB_URL": replica.base_url,
        # An already running endpoint for llm_text in the local profile.
        "BMW_LLM_BASE_URL": endpoint.base_url,
        "BMW_LLM_MODEL": model_dir,
        "BMW_CONFIGS_DIR": str(write_e2e_configs(storage / "configs")),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONUNBUFFERED": "1",
    }
    ui = DagsterUI(port=free_port(), env={**os.environ, **env}, log_dir=storage / "logs")
    settings = load_settings(env)
    try:
        # The webserver loads the code location while the data assets materialize here.
        ui.spawn_webserver()
        endpoint.start()
        with pytest.MonkeyPatch.context() as environ:
            for name, value in env.items():
                environ.setenv(name, value)
            # The same definitions and resources as the webserver's code location builds from `env`.
            defs = build_definitions(load_settings())
            with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
                result = dg.materialize(
                    list(defs.assets or []),
                    selection=[*DATA_ASSETS, "base_model_report", "rag_baseline"],
                    resources=dict(defs.resources or {}),
                    instance=instance,
                    run_config={"ops": {"article_index": {"config": {"target": PUBLISHED}}}},
                )
        assert result.success, "the data assets did not materialize before the UI started"
        ui.wait_until_loaded()
        # Stopped before the daemon's first tick: the test starts it from the UI when it has published.
        ui.stop_sensor("new_press_releases")
        ui.skip_welcome_dialog()
        ui.start_daemon()
        yield Stack(ui=ui, replica=replica, storage=storage)
    finally:
        ui.stop()
        stop_local_services(settings)
        endpoint.stop()
        replica.stop()
        print(f"e2e logs: {ui.log_dir}", file=sys.stderr)


def write_e2e_configs(target: Path) -> Path:
    """The project's configs with the suite's tiny profile and E2E_PROFILE laid over the local profile."""
    write_tiny_configs(target)
    local_path = target / "profiles" / "local.yaml"
    local_path.write_text(yaml.safe_dump(_merged(yaml.safe_load(local_path.read_text()), E2E_PROFILE)))
    return target


def write_test_instance(dagster_home: Path) -> None:
    """The project's dagster.yaml with TEST_INSTANCE's daemon settings added, into `dagster_home`."""
    instance = _merged(yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text()), TEST_INSTANCE)
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(instance))


def _merged(base: dict, extra: dict) -> dict:
    """`base` with `extra` laid over it, mapping by mapping."""
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merged(base.get(key) or {}, value) if isinstance(value, dict) else value
    return merged
