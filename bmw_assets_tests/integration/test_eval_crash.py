"""Kill -9 during evaluation: the real entry point on the packaged SmolLM2 is SIGKILLed mid-way,
leaves nothing that passes for a finished report, and the next run completes and is recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from bmw_assets.evaluation.report import read_report
from bmw_assets.run_folders import REPORT_JSON
from bmw_assets.run_specs import EvaluatedModel
from bmw_assets.settings import StorageLayout
from bmw_assets.stages.evaluation import plan_eval_run, record_eval
from bmw_assets.training.launch import training_env
from bmw_assets_tests.specs import measurement

pytestmark = pytest.mark.slow

CONFIG = measurement(
    perplexity_max_length=32,
    perplexity_stride=16,
    batch_size=4,
    entropy_samples=2,
    entropy_temperature=1.0,
    max_new_tokens=4,
    judge="embedding",
    judge_model="packaged:all-minilm-l6-v2",
    embedding_threshold=0.85,
    generation_prompts=["Which new models did BMW present?"],
    general_text_chars=1500,
)
MIDWAY = "held-out perplexity"  # logged before general-English perplexity, fact recall and entropy


def eval_env() -> dict[str, str]:
    env = {k: v for k, v in training_env().items() if not k.startswith("DAGSTER_PIPES")}
    return env | {"HF_HUB_OFFLINE": "1"}


def eval_command(spec_path: Path) -> list[str]:
    return [sys.executable, "-m", "bmw_assets.evaluation.run", "--spec", str(spec_path)]


def plan(tmp_path: Path, model_dir: Path):
    facts, heldout = tmp_path / "facts.jsonl", tmp_path / "heldout.jsonl"
    if not facts.exists():
        facts.write_text(
            json.dumps({"article_id": "T0000001EN", "split": "train", "question": "What is the capital of France?", "answer": "Paris"}) + "\n"
            + json.dumps({"article_id": "T0000002EN", "split": "test", "question": "How many wheels does a car have?", "answer": "four"}) + "\n"
        )  # fmt: skip
        heldout.write_text(json.dumps({"text": "Munich. The BMW Group delivered more electric cars than ever."}) + "\n")
    return plan_eval_run("base", "run-1", CONFIG, EvaluatedModel(path=str(model_dir)), facts, heldout,
                         StorageLayout(tmp_path))  # fmt: skip


@pytest.mark.timeout(300)
def test_a_killed_evaluation_leaves_no_report_and_the_next_run_completes(tmp_path, base_model_dir):
    evaluation = plan(tmp_path, base_model_dir)
    general_text = Path(json.loads(evaluation.spec_path.read_text())["general_text_path"])
    process = subprocess.Popen(eval_command(evaluation.spec_path), env=eval_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    lines = []
    for line in process.stdout:
        lines.append(line)
        if MIDWAY in line:
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=30)
    process.stdout.close()
    assert process.returncode == -signal.SIGKILL, "".join(lines[-20:])
    assert general_text.read_text().strip()  # written by the plan, before the evaluation process
    assert not (evaluation.output_dir / REPORT_JSON).exists()
    assert not plan(tmp_path, base_model_dir).completed  # the asset would evaluate again, not read a report
    general_written = general_text.stat().st_mtime_ns

    started = time.monotonic()
    done = subprocess.run(
        eval_command(evaluation.spec_path), env=eval_env(), capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert general_text.stat().st_mtime_ns == general_written  # written once, read by every evaluation
    again = plan(tmp_path, base_model_dir)
    assert again.completed
    report = read_report(again.output_dir)
    assert report.perplexity["tokens"] > 5 and report.fact_recall["train"]["n"] == 1
    assert report.wall_seconds <= time.monotonic() - started

    catalog = tmp_path / "catalog.duckdb"
    assert record_eval(catalog, again).created_at == report.created_at
    with duckdb.connect(str(catalog), read_only=True) as con:
        metrics = dict(
            con.execute("SELECT metric, value FROM eval_results WHERE variant = 'base' AND run_id = 'run-1'").fetchall()
        )
    assert metrics["heldout_perplexity"] == pytest.approx(report.perplexity["perplexity"])
