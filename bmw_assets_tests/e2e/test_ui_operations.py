"""Operating bmw_assets as a user does, in a real browser against the real webserver and daemon:
read the asset graph, backfill two trained_model variants from the launch dialog, watch
eval_report follow them by automation with its verdict checks, and variant_comparison follow the
evaluations with a verdict per variant and the samples inline, then publish press releases, start
the sensor, and see its refresh run mark the trained variants as unsynced with the new dataset.

Waits poll the webserver's GraphQL API (bounded); nothing sleeps a fixed time.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bmw_assets_tests.e2e.conftest import Stack
from bmw_assets_tests.e2e.dagster_ui import (
    CHROMIUM,
    LOCATION,
    DagsterUI,
    assets_of,
    open_markdown,
    tag,
    wait_for,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} is missing: `make chromium` installs it"),
]

GROUPS = {
    "ingestion": ["article_index", "raw_pdfs"],
    "text": ["regex_text", "llm_text"],
    "dataset": ["chatml_dataset"],
    "training": ["base_model", "trained_model"],
    "evaluation": ["base_model_report", "eval_report", "rag_baseline", "variant_comparison"],
    "sharing": ["dataset_card", "exported_model", "model_card"],
}
VARIANTS = ["dropped", "dropped_lora", "original", "original_lora", "pruned", "pruned_lora"]
BACKFILLED = ["original_lora", "dropped_lora"]
REFRESH_SELECTION = {"article_index", "raw_pdfs", "regex_text", "llm_text", "chatml_dataset"}
DONE = {"SUCCESS", "FAILURE", "CANCELED"}
EVAL_CHECKS = ["beats_base_on_heldout_perplexity", "forgetting_within_limit"]
VERDICT = re.compile(r": (better|worse|mixed|undecided)\. ")


def test_operating_the_graph_from_the_ui(page: Page, ui_stack: Stack, screenshot_dir: Path) -> None:
    ui = ui_stack.ui
    check_asset_graph(page, screenshot_dir)
    backfill_id = backfill_from_launch_dialog(page, ui, screenshot_dir)
    check_trained_partitions(ui, backfill_id, ui_stack.storage)
    show_loss_curve(page, screenshot_dir)
    check_eval_reports_follow(ui)
    show_eval_report_verdict(page, ui, screenshot_dir)
    comparisons = check_comparison_follows(page, ui, screenshot_dir)
    show_backfill_done(page, ui, backfill_id, screenshot_dir)
    show_eval_report_runs(page, comparisons, screenshot_dir)
    check_sensor_requests_refresh(page, ui_stack, screenshot_dir)
    check_models_unsynced(page, ui, screenshot_dir)
    # Minutes later, and after a new dataset: no further comparison run (its automation does not loop).
    assert len(comparison_runs(ui)) == comparisons


def check_asset_graph(page: Page, shots: Path) -> None:
    page.goto("/asset-groups")
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    for group in GROUPS:
        expect(page.get_by_role("button", name=shown_name(group))).to_be_visible()
    # The graph opens with its groups collapsed; the graph settings menu expands them.
    page.locator("button:has([aria-label='settings'])").last.click()
    page.get_by_role("menuitem", name=re.compile("Expand all groups")).click()
    page.keyboard.press("Escape")
    expect(page.get_by_role("menuitem", name=re.compile("Collapse all groups"))).to_have_count(0)
    for assets in GROUPS.values():
        for asset in assets:
            expect(page.get_by_text(asset, exact=True).first).to_be_visible()
    page.screenshot(path=shots / "asset-graph.png")

    # Each group's own list names exactly its assets, each next to a link to the group.
    for group, assets in GROUPS.items():
        page.goto(f"/locations/{LOCATION}/asset-groups/{group}/list")
        for asset in assets:
            expect(page.get_by_role("link", name=shown_name(asset))).to_have_count(1)
        expect(page.get_by_role("link", name=shown_name(group))).to_have_count(len(assets))
        others = [a for g, names in GROUPS.items() if g != group for a in names]
        for asset in others:
            expect(page.get_by_role("link", name=shown_name(asset))).to_have_count(0)

    page.goto("/assets/trained_model?view=partitions")
    expect(page.get_by_text(f"{len(VARIANTS)} Partitions Selected")).to_be_visible()
    for variant in VARIANTS:
        expect(page.get_by_text(variant, exact=True).first).to_be_visible()
    page.screenshot(path=shots / "trained-model-partitions.png")


def shown_name(name: str) -> re.Pattern:
    """The accessible name of an asset or group link: an icon's label may come first, and the UI
    renders the name twice (shown, and measured for middle truncation)."""
    return re.compile(rf"(^|\s){name}( {name})?$")


def backfill_from_launch_dialog(page: Page, ui: DagsterUI, shots: Path) -> str:
    """Materialize… on trained_model, pick two variants, launch the backfill; returns its id."""
    before = {run["runId"] for run in ui.runs()}
    # Until the daemon's first heartbeat the dialog warns that the backfill daemon is not running.
    wait_for("the daemon's heartbeats", ui.daemons_healthy, 120, every_s=1)
    page.goto("/assets/trained_model?view=partitions")
    page.get_by_role("button", name="Materialize…").first.click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize trained_model")
    expect(dialog).to_be_visible()
    # The dialog starts from the Partitions tab's selection (all six): clear it in the picker, pick two.
    dialog.locator("[aria-label='expand_more']").first.click()
    picker = page.get_by_role("dialog").filter(has=page.get_by_placeholder("Filter partitions"))
    select_all = picker.get_by_role("menuitem", name=re.compile(r"Select all"))
    select_all.click()
    if dialog.get_by_text("0 partitions", exact=True).count() == 0:
        select_all.click()  # the first click selected all: the second clears
    expect(dialog.get_by_text("0 partitions", exact=True)).to_be_visible()
    for variant in BACKFILLED:
        picker.get_by_role("menuitem", name=shown_name(variant)).click()
    dialog.get_by_text("Launch runs to materialize trained_model").click()  # closes the picker
    expect(page.get_by_placeholder("Filter partitions")).to_be_hidden()
    expect(dialog.get_by_text(f"{len(BACKFILLED)} partitions", exact=True)).to_be_visible()
    page.screenshot(path=shots / "backfill-dialog.png")
    dialog.get_by_role("button", name="Launch backfill").click()
    expect(dialog).to_be_hidden()

    backfill = wait_for("the backfill to be recorded", lambda: _newest_backfill(ui), 60, every_s=0.5)
    assert sorted(backfill["partitionNames"]) == sorted(BACKFILLED)
    assert not before & {r["runId"] for r in ui.runs() if tag(r, "dagster/backfill") == backfill["id"]}
    return backfill["id"]


def _newest_backfill(ui: DagsterUI) -> dict | None:
    backfills = ui.graphql(
        "{ partitionBackfillsOrError(limit: 5) { ... on PartitionBackfills { results { id partitionNames "
        "assetSelection { path } } } } }"
    )["partitionBackfillsOrError"]["results"]
    return next((b for b in backfills if [k["path"] for k in b["assetSelection"]] == [["trained_model"]]), None)


def _backfill_status(ui: DagsterUI, backfill_id: str) -> str | None:
    """The backfill's status once it has finished (None while it is requested or running)."""
    status = ui.graphql(
        "query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }",
        {"id": backfill_id},
    )["partitionBackfillOrError"]["status"]
    return None if status in ("REQUESTED", "CANCELING", "FAILING") else status


def wait_for_runs(ui: DagsterUI, what: str, select, expected: int, timeout_s: float) -> list[dict]:
    """Wait until `expected` runs chosen by `select` have finished; fail with the error of any that failed."""

    def finished() -> list[dict] | None:
        runs = [r for r in ui.runs() if select(r)]
        for run in runs:
            if run["status"] in ("FAILURE", "CANCELED"):
                pytest.fail(f"{what}: run {run['runId']} ({tag(run, 'dagster/partition')}) ended {run['status']}:\n"
                            f"{ui.run_failure(run['runId'])}")  # fmt: skip
        done = [r for r in runs if r["status"] in DONE]
        return done if len(done) >= expected else None

    try:
        return wait_for(what, finished, timeout_s, every_s=3)
    except TimeoutError as exc:
        states = [(tag(r, "dagster/partition"), sorted(assets_of(r)), r["status"]) for r in ui.runs()[:10]]
        raise AssertionError(f"{exc}; newest runs: {states}\ndaemon log:\n{ui.log_tail('daemon')}") from None


def check_trained_partitions(ui: DagsterUI, backfill_id: str, storage: Path) -> None:
    runs = wait_for_runs(ui, "the backfill's training runs", lambda r: tag(r, "dagster/backfill") == backfill_id,
                         len(BACKFILLED), timeout_s=600)  # fmt: skip
    assert sorted(tag(r, "dagster/partition") for r in runs) == sorted(BACKFILLED)
    assert all(assets_of(r) == {"trained_model"} for r in runs)

    events = ui.materializations("trained_model")
    assert sorted(e["partition"] for e in events) == sorted(BACKFILLED), "only the chosen variants trained"
    for event in events:
        metadata = {m["label"]: m for m in event["metadataEntries"]}
        assert metadata["loss_curve"]["mdStr"].startswith("![loss curve](data:image/png;base64,")
        checkpoints = Path(metadata["checkpoint_dir"]["path"])
        assert checkpoints.is_relative_to(storage / "models" / event["partition"]) and checkpoints.is_dir()
        # The run's manifest names the variant and the dataset version the metadata reports.
        manifest = json.loads((checkpoints / "manifest.json").read_text())
        assert manifest["variant"] == event["partition"]
        assert manifest["dataset"]["version"] == metadata["dataset_version"]["text"]
        assert (checkpoints / manifest["paths"]["loss_curve"]).is_file()
        assert metadata["best_eval_loss"]["floatValue"] > 0
        assert 0 < metadata["trainable_params"]["intValue"] < metadata["total_params"]["intValue"], "LoRA trains a part"


def check_eval_reports_follow(ui: DagsterUI) -> None:
    """eval_report has no backfill of its own: the automation sensor requests it per trained partition."""
    runs = wait_for_runs(ui, "eval_report runs requested by automation",
                         lambda r: "eval_report" in assets_of(r), len(BACKFILLED), timeout_s=600)  # fmt: skip
    assert sorted(tag(r, "dagster/partition") for r in runs) == sorted(BACKFILLED)
    assert all(tag(r, "dagster/from_automation_condition") == "true" for r in runs), [r["tags"] for r in runs]
    events = ui.materializations("eval_report")
    assert sorted(e["partition"] for e in events) == sorted(BACKFILLED)
    for event in events:
        labels = {m["label"] for m in event["metadataEntries"]}
        assert "report" in labels and len(labels) > 3, labels


def show_eval_report_verdict(page: Page, ui: DagsterUI, shots: Path) -> None:
    """Each evaluated partition ran both verdict checks, which say how it compares with the base;
    its metadata shows the verdict, the rounded metrics table and the samples inline."""
    for check in EVAL_CHECKS:
        executions = ui.check_executions("eval_report", check)
        assert sorted(e["partition"] for e in executions) == sorted(BACKFILLED), executions
        for execution in executions:
            evaluation = execution["evaluation"]
            assert evaluation["severity"] == "WARN" and evaluation["description"], execution
            assert ("lower is better" in evaluation["description"]) or "missing" in evaluation["description"]
    page.goto(f"/assets/eval_report?view=partitions&partition={BACKFILLED[0]}")
    for label in ("verdict", "metrics", "samples", "heldout_perplexity"):
        expect(page.get_by_role("row").filter(has=page.get_by_text(label, exact=True)).first).to_be_visible()
    page.screenshot(path=shots / "eval-report-metadata.png")
    with markdown_entry(page, "verdict") as verdict:
        expect(verdict.get_by_text(VERDICT).first).to_be_visible()
    page.goto("/assets/eval_report?view=checks")
    for check in EVAL_CHECKS:
        # A long name shows truncated in the list ("beats_base_on_…"); its full text is in a hidden
        # measuring copy and, for the selected check, in the visible heading.
        expect(page.get_by_text(check, exact=True).filter(visible=True).first).to_be_visible()
    page.screenshot(path=shots / "eval-report-checks.png")


def comparison_runs(ui: DagsterUI) -> list[dict]:
    return [r for r in ui.runs() if "variant_comparison" in assets_of(r)]


def check_comparison_follows(page: Page, ui: DagsterUI, shots: Path) -> int:
    """Automation materializes variant_comparison once the evaluations are in, though four variants
    were never evaluated: a verdict line per variant, samples inline. Returns its number of runs."""

    def verdicts_of_both() -> tuple[dict, list[str]] | None:
        """The newest comparison's metadata and verdict lines once it holds both evaluations (one that
        followed the first evaluation alone says the other is "not evaluated yet"; automation runs again)."""
        events = ui.materializations("variant_comparison")[:1]
        if not events:
            return None
        metadata = {m["label"]: m for m in events[0]["metadataEntries"]}
        lines = metadata["verdict"]["mdStr"].splitlines()
        done = all(any(line.startswith(f"- **{v}**: ") and VERDICT.search(line) for line in lines) for v in BACKFILLED)
        return (metadata, lines) if done else None

    metadata, verdicts = wait_for("a variant_comparison with both evaluated variants", verdicts_of_both, 480, every_s=3)
    runs = wait_for_runs(ui, "variant_comparison requested by automation", lambda r: "variant_comparison" in assets_of(r),
                         1, timeout_s=480)  # fmt: skip
    wait_for("no variant_comparison run in progress", lambda: all(r["status"] in DONE for r in comparison_runs(ui)) or None,
             240)  # fmt: skip
    assert all(tag(r, "dagster/from_automation_condition") == "true" for r in runs)
    assert len(verdicts) == len(VARIANTS) + 1  # and the retrieval baseline's line
    assert verdicts[-1].startswith("- **base+rag** (retrieval baseline): fact recall on training articles")
    for variant in VARIANTS:
        line = next(v for v in verdicts if v.startswith(f"- **{variant}**: "))
        assert VERDICT.search(line) if variant in BACKFILLED else line.endswith("not evaluated yet."), line
    samples = metadata["samples"]["mdStr"]
    assert all(f"- **{model}**: " in samples for model in ["base", *BACKFILLED])
    page.goto("/assets/variant_comparison?view=events")
    for label in ("verdict", "comparison", "samples", "metrics"):
        expect(page.get_by_role("row").filter(has=page.get_by_text(label, exact=True)).first).to_be_visible()
    with markdown_entry(page, "verdict") as verdict:
        for variant in VARIANTS:
            expect(verdict.get_by_text(variant, exact=True).first).to_be_visible()
        page.screenshot(path=shots / "variant-comparison-verdict.png")
    with markdown_entry(page, "samples") as samples:
        expect(samples.get_by_text("base", exact=True).first).to_be_visible()
        page.screenshot(path=shots / "variant-comparison-samples.png")
    return len(comparison_runs(ui))


@contextlib.contextmanager
def markdown_entry(page: Page, label: str):
    """Where a Markdown metadata entry is rendered (see open_markdown); a dialog it opened is closed afterwards."""
    shown = open_markdown(page, label)
    yield shown
    if page.get_by_role("dialog").count():
        page.keyboard.press("Escape")


def show_backfill_done(page: Page, ui: DagsterUI, backfill_id: str, shots: Path) -> None:
    """The backfill completes, and its page lists one succeeded run per variant."""
    status = wait_for("the backfill to complete", lambda: _backfill_status(ui, backfill_id), 120, every_s=1)
    assert status in ("COMPLETED", "COMPLETED_SUCCESS"), f"backfill {backfill_id} ended {status}"
    page.goto(f"/runs/b/{backfill_id}?tab=runs")
    for variant in BACKFILLED:
        expect(page.get_by_text(f"partition: {variant}", exact=True).first).to_be_visible()
    expect(page.get_by_text("Success", exact=True)).to_have_count(len(BACKFILLED))
    page.screenshot(path=shots / "backfill-runs.png")


def show_loss_curve(page: Page, shots: Path) -> None:
    """A trained partition's metadata table, and its loss curve rendered from the markdown entry."""
    page.goto(f"/assets/trained_model?view=partitions&partition={BACKFILLED[0]}")
    row = page.get_by_role("row").filter(has=page.get_by_text("loss_curve", exact=True))
    for label in ("best_eval_loss", "trainable_params", "dataset_version", "checkpoint_dir"):
        expect(page.get_by_role("row").filter(has=page.get_by_text(label, exact=True))).to_be_visible()
    page.screenshot(path=shots / "trained-model-metadata.png")
    row.get_by_text("[Show Markdown]").click()
    plot = page.get_by_role("dialog").get_by_role("img", name="loss curve")
    expect(plot).to_be_visible()
    assert plot.evaluate("img => img.naturalWidth") > 100, "the loss curve PNG did not decode"
    page.screenshot(path=shots / "trained-model-loss-curve.png")


def show_eval_report_runs(page: Page, comparisons: int, shots: Path) -> None:
    """The runs list: the backfill, then one run per trained variant that automation requested (its
    eval_report with the cards that follow it), and the comparison's `comparisons` runs (automation may
    compare after the first evaluation alone, then again)."""
    page.goto("/runs")
    for variant in BACKFILLED:  # the list is no table: a run shows its partition as a tag
        expect(page.get_by_text(f"partition: {variant}").filter(visible=True).first).to_be_visible()
    page.screenshot(path=shots / "runs.png")
    # "Launched by" names the sensor that requested the run: each evaluation and the comparison.
    expect(page.get_by_text("automation", exact=True).filter(visible=True)).to_have_count(len(BACKFILLED) + comparisons)


def check_sensor_requests_refresh(page: Page, stack: Stack, shots: Path) -> None:
    ui = stack.ui
    published = stack.replica.publish(3)
    page.goto(f"/locations/{LOCATION}/sensors/new_press_releases")
    running = page.get_by_role("row").filter(has=page.get_by_text("Running", exact=True))
    toggle = running.get_by_role("checkbox")
    expect(toggle).not_to_be_checked()
    running.locator("label").click()  # the switch drawn over the hidden checkbox
    expect(toggle).to_be_checked()

    def requested() -> dict | None:
        ticks = ui.sensor("new_press_releases")["sensorState"]["ticks"]
        for tick in ticks:
            if tick["error"]:
                pytest.fail(f"the sensor's tick failed: {tick['error']['message']}")
        return next((t for t in ticks if t["runIds"]), None)

    # The daemon evaluates a sensor switched on at its next iteration; a loaded machine delays that.
    tick = wait_for("a new_press_releases tick that requests a run", requested, 300, every_s=1)
    run = next(r for r in ui.runs() if r["runId"] == tick["runIds"][0])
    assert assets_of(run) == REFRESH_SELECTION
    assert tag(run, "bmw/new_article_count") == str(len(published))
    assert sorted(tag(run, "bmw/new_articles").split(",")) == sorted(published)
    # The daemon launches it through the queued run coordinator.
    waiting = (None, "QUEUED", "NOT_STARTED")
    wait_for("the refresh run to start", lambda: run_status(ui, run["runId"]) not in waiting or None, 240, every_s=1)

    page.reload()
    expect(page.get_by_text("1 run requested").first).to_be_visible()
    expect(page.get_by_text(run["runId"][:8]).first).to_be_visible()
    page.screenshot(path=shots / "sensor-tick.png")
    page.get_by_role("button", name="Runs", exact=True).click()
    expect(page.get_by_text(f"bmw/new_article_count: {len(published)}")).to_be_visible()
    page.screenshot(path=shots / "sensor-refresh-run.png")
    wait_for_runs(ui, "the refresh run", lambda r: r["runId"] == run["runId"], 1, timeout_s=600)


def check_models_unsynced(page: Page, ui: DagsterUI, shots: Path) -> None:
    """The refresh built a new dataset version, so the variants trained on the old one show as unsynced."""
    newest = max(ui.materializations("chatml_dataset"), key=lambda event: int(event["timestamp"]))
    version = next(m["text"] for m in newest["metadataEntries"] if m["label"] == "version")
    for event in ui.materializations("trained_model"):
        trained_on = next(m["text"] for m in event["metadataEntries"] if m["label"] == "dataset_version")
        assert trained_on != version, f"{event['partition']} was trained on the refreshed dataset {version}"
    page.goto(f"/assets/trained_model?view=partitions&partition={BACKFILLED[0]}")
    expect(page.get_by_text(re.compile(r"^Unsynced"))).to_be_visible()
    page.screenshot(path=shots / "trained-model-unsynced.png")


def run_status(ui: DagsterUI, run_id: str) -> str | None:
    return next((r["status"] for r in ui.runs() if r["runId"] == run_id), None)
