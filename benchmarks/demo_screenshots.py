"""Screenshots of a finished `make demo` in the Dagster UI, for the user guide.

    make demo && .venv/bin/python benchmarks/demo_screenshots.py [--out docs/img]

Starts `dagster-webserver` on the demo's instance ($BMW_STORAGE/dagster, as `make ui` does;
no daemon, so nothing new runs), opens it in Debian's Chromium (Playwright, as the e2e test
does) and captures what a user reads after the demo: variant_comparison's verdict per variant
and its metrics plot, the eval_report of `original_lora` and the verdict checks. The e2e
test's screenshots show the operations on a tiny run; these show the demo's real numbers.
"""

import argparse
import os
from pathlib import Path

from bmw_assets_tests.conftest import free_port
from bmw_assets_tests.e2e.dagster_ui import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, DagsterUI, open_markdown

VARIANT = "original_lora"  # the variant the demo's learning claim rests on (docs/results.md)


def capture(ui: DagsterUI, out: Path) -> list[Path]:
    from playwright.sync_api import expect, sync_playwright

    shots = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1600, "height": 1000}, base_url=ui.url).new_page()
        page.set_default_timeout(60_000)

        def shoot(name: str, target=None) -> None:
            path = out / name
            (target or page).screenshot(path=path)
            shots.append(path)

        def close_dialog() -> None:
            page.keyboard.press("Escape")
            expect(page.get_by_role("dialog")).to_have_count(0)  # gone, not only fading out

        page.goto("/assets/variant_comparison?view=events")
        shoot("demo-verdict.png", open_markdown(page, "verdict"))
        close_dialog()
        page.set_viewport_size({"width": 1600, "height": 2600})  # the dialog shows only what fits the window
        shoot("demo-metrics-plot.png", open_markdown(page, "metrics").locator("img"))  # the plot, not its dialog
        close_dialog()
        page.set_viewport_size({"width": 1600, "height": 1000})
        page.goto(f"/assets/eval_report?view=partitions&partition={VARIANT}")
        page.get_by_role("row").filter(has=page.get_by_text("verdict", exact=True)).first.wait_for()
        shoot("demo-eval-report.png")
        page.goto("/assets/eval_report?view=checks")
        page.get_by_text("beats_base_on_heldout_perplexity", exact=True).filter(visible=True).first.wait_for()
        shoot("demo-checks.png")
        browser.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "img", help="folder for the PNGs")
    args = parser.parse_args()
    storage = Path(os.environ.get("BMW_STORAGE", REPO_ROOT / "storage")).resolve()
    home = storage / "dagster"
    if not (home / "dagster.yaml").is_file():
        raise SystemExit(f"{home} holds no Dagster instance: run `make demo` first (or set BMW_STORAGE)")
    env = {**os.environ, "BMW_STORAGE": str(storage), "DAGSTER_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    ui = DagsterUI(port=free_port(), env=env, log_dir=storage / "logs" / "screenshots")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        ui.spawn_webserver()
        ui.wait_until_loaded()
        ui.skip_welcome_dialog()
        for path in capture(ui, args.out):
            print(f"wrote {path}")
    finally:
        ui.stop()


if __name__ == "__main__":
    main()
