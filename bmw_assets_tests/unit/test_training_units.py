"""Unit tests of the training entry point's pure parts: backend choice, row conversion,
checkpoint choice, launch command, and its import isolation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bmw_assets.atomic import write_json_atomic
from bmw_assets.run_folders import EvaluationFolder, TrainingRunFolder
from bmw_assets.training.artifacts import loss_history
from bmw_assets.training.backend import resolve_backend
from bmw_assets.training.data import LossMode, read_jsonl, to_trainer_rows
from bmw_assets.training.launch import accelerate_launch_prefix, training_command, training_env
from bmw_assets.training.reporting import StdoutReporter, open_reporter

MESSAGES = [
    {"role": "system", "content": "You answer questions about the BMW Group."},
    {"role": "user", "content": "Where is BMW headquartered?"},
    {"role": "assistant", "content": "In Munich."},
]


def test_backend_on_cpu_is_plain_trl_and_refuses_cuda_only_requests():
    assert resolve_backend("auto", "auto", cuda_available=False).name == "trl"
    assert resolve_backend("auto", "auto", cuda_available=False).use_liger is False
    assert resolve_backend("trl", False, cuda_available=True).use_liger is False
    with pytest.raises(ValueError, match="unsloth"):
        resolve_backend("unsloth", "auto", cuda_available=False)
    with pytest.raises(ValueError, match="liger"):
        resolve_backend("trl", True, cuda_available=False)
    with pytest.raises(ValueError, match="'trl', 'unsloth' or 'auto'"):
        resolve_backend("deepspeed", "auto", cuda_available=False)


def test_completion_only_rows_split_the_last_assistant_turn():
    rows = to_trainer_rows([{"messages": MESSAGES}], LossMode.COMPLETION_ONLY)
    assert rows == [{"prompt": MESSAGES[:2], "completion": MESSAGES[2:]}]
    assert to_trainer_rows([{"messages": MESSAGES}], LossMode.FULL_SEQUENCE) == [{"messages": MESSAGES}]
    with pytest.raises(ValueError, match="must end with an assistant message"):
        to_trainer_rows([{"messages": MESSAGES[:2], "article_id": "T0000001EN"}], LossMode.COMPLETION_ONLY)


def test_read_jsonl_filters_styles_and_rejects_rows_without_messages(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(
        json.dumps({"messages": MESSAGES, "style": "qa"})
        + "\n"
        + json.dumps({"messages": MESSAGES, "style": "article"})
        + "\n"
    )
    assert [row["style"] for row in read_jsonl(path, ["qa"])] == ["qa"]
    assert len(read_jsonl(path, None)) == 2
    with pytest.raises(ValueError, match="no rows with style"):
        read_jsonl(path, ["instruct"])
    path.write_text(json.dumps({"text": "x"}) + "\n")
    with pytest.raises(ValueError, match=r"train.jsonl:1 has no 'messages'"):
        read_jsonl(path)


def test_resume_skips_a_checkpoint_killed_mid_save(tmp_path):
    for step, complete in ((2, True), (4, True), (6, False), (10, True)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete and step != 10:
            (folder / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-10" / "trainer_state.json").write_text("{}")
    # Steps compare as numbers: checkpoint-10 comes after checkpoint-4, not before it.
    assert TrainingRunFolder(tmp_path).last_complete_checkpoint() == tmp_path / "checkpoint-10"
    (tmp_path / "checkpoint-10" / "trainer_state.json").unlink()
    assert TrainingRunFolder(tmp_path).last_complete_checkpoint() == tmp_path / "checkpoint-4"
    assert TrainingRunFolder(tmp_path / "checkpoint-6").last_complete_checkpoint() is None


def test_manifest_round_trip_and_loss_history(tmp_path):
    run = TrainingRunFolder(tmp_path)
    assert run.read_manifest() is None and not run.completed
    write_json_atomic(run.manifest, {"run_id": "r1"})
    assert run.read_manifest() == {"run_id": "r1"} and run.completed
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temp file left
    history = loss_history([{"step": 1, "loss": 2.0}, {"step": 2, "eval_loss": 1.5}, {"step": 2, "train_runtime": 3}])
    assert history == {"train": [{"step": 1, "loss": 2.0}], "eval": [{"step": 2, "loss": 1.5}]}


def test_newest_evaluation_is_the_latest_complete_report(tmp_path):
    import os

    assert EvaluationFolder.newest(tmp_path, "original") is None
    for run_id, mtime, complete in (("older", 100, True), ("newer", 200, True), ("running", 300, False)):
        folder = EvaluationFolder.of(tmp_path, "original", run_id)
        folder.path.mkdir(parents=True)
        (folder.report_json if complete else folder.spec).write_text("{}")
        os.utime(folder.report_json if complete else folder.spec, (mtime, mtime))
    # An evaluation still running (no report yet) is not the newest result.
    assert EvaluationFolder.newest(tmp_path, "original") == EvaluationFolder.of(tmp_path, "original", "newer")


def test_training_command_single_process_ddp_and_fsdp():
    single = training_command("spec.json", num_gpus=1, fsdp=False)
    assert single == [sys.executable, "-m", "bmw_assets.training.train", "--spec", "spec.json"]
    ddp = training_command("spec.json", num_gpus=4, fsdp=False)
    assert ddp[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert ddp[ddp.index("--num_processes") + 1] == "4" and "--use_fsdp" not in ddp
    assert ddp[-4:] == ["-m", "bmw_assets.training.train", "--spec", "spec.json"]
    fsdp = training_command("spec.json", num_gpus=8, fsdp=True)
    assert "--use_fsdp" in fsdp and fsdp[fsdp.index("--fsdp_state_dict_type") + 1] == "FULL_STATE_DICT"
    assert fsdp[fsdp.index("--fsdp_version") + 1] == "2"
    # The prefix serves any script (the throughput benchmark launches itself with it).
    assert fsdp[: fsdp.index("-m", 3)] == accelerate_launch_prefix(8, fsdp=True)
    with pytest.raises(ValueError, match="num_gpus"):
        training_command("spec.json", num_gpus=-1, fsdp=False)


def test_fsdp_launch_needs_fsdp_and_several_processes(monkeypatch):
    from bmw_assets.training.train import fsdp_launch

    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert not fsdp_launch()  # DDP (LoRA)
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.setenv("WORLD_SIZE", "1")  # one process: accelerate runs no FSDP
    assert not fsdp_launch()
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert fsdp_launch()


def test_training_env_is_offline_and_finds_the_package():
    env = training_env({"PYTHONPATH": "/elsewhere"})
    assert env["HF_HUB_OFFLINE"] == "1" and env["MPLBACKEND"] == "Agg"
    root, rest = env["PYTHONPATH"].split(":", 1)
    assert (Path(root) / "bmw_assets" / "training" / "train.py").is_file() and rest == "/elsewhere"
    assert "HF_HUB_OFFLINE" not in training_env({}, offline=False)


def test_standalone_reporter_when_not_launched_by_pipes(monkeypatch, capsys):
    monkeypatch.delenv("DAGSTER_PIPES_CONTEXT", raising=False)
    monkeypatch.delenv("DAGSTER_PIPES_MESSAGES", raising=False)
    with open_reporter() as reporter:
        assert isinstance(reporter, StdoutReporter)
        reporter.report_materialization({"best_eval_loss": 1.25, "loss_curve": {"raw_value": "/x.png", "type": "path"}})
    assert capsys.readouterr().out.splitlines() == ["best_eval_loss: 1.25", "loss_curve: /x.png"]


def test_entry_points_import_no_dagster():
    # dagster is shadowed by an entry that fails on import, so any path to it breaks the run. The GPU host
    # has dagster-pipes, pydantic (the specs) and the ML stack, whose huggingface_hub brings PyYAML.
    code = (
        "import sys; sys.modules['dagster'] = None\n"
        "import bmw_assets.training.train, bmw_assets.training.launch, bmw_assets.evaluation.run\n"
        "print(sorted(m for m in sys.modules if m.startswith('dagster.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=training_env(), timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
