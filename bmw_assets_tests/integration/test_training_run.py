"""The training entry point on the real SmolLM2-135M (CPU, 128 tokens, a few steps):
LoRA overfitting from the command line, full fine-tuning of a surgered model, best
checkpoint by validation loss, resume after kill -9, and a run under real Dagster Pipes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest

from bmw_assets.training.launch import training_command, training_env
from bmw_assets.training.loss_stream import RUN_SECONDS_FILE
from bmw_assets_tests.specs import run_spec, shipped_config

pytestmark = pytest.mark.slow

SYSTEM = {"role": "system", "content": "You answer questions about the BMW Group."}
FACTS = [
    ("Where is the BMW Group headquartered?", "The BMW Group is headquartered in Munich."),
    ("Which plant builds the BMW iX?", "The BMW iX is built at Plant Dingolfing."),
    ("What does BMW stand for?", "BMW stands for Bayerische Motoren Werke."),
    ("Which brand makes the MINI Cooper?", "The MINI Cooper is made by the BMW Group."),
]


@pytest.fixture(scope="session")
def base_model(base_model_dir) -> str:
    return str(base_model_dir)


@pytest.fixture(scope="session")
def tokenizer(base_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_model_dir)


def write_split(path: Path, tokenizer, facts) -> Path:
    """A dataset split in the JSONL row shape of bmw_assets.dataset.build."""
    with path.open("w", encoding="utf-8") as out:
        for index, (question, answer) in enumerate(facts):
            messages = [SYSTEM, {"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            text = tokenizer.apply_chat_template(messages, tokenize=False)
            row = {
                "messages": messages,
                "text": text,
                "style": "qa",
                "article_id": f"T{index:07d}EN",
                "chunk": 0,
                "tokens": len(tokenizer(text).input_ids),
            }
            out.write(json.dumps(row) + "\n")
    return path


def make_spec(
    tmp_path: Path,
    base_model: str,
    tokenizer,
    *,
    method="lora",
    steps=4,
    every=2,
    lr=2e-3,
    validation=FACTS[:2],
    surgery=None,
    name="run",
) -> Path:
    """The RunSpec file of a short run: the local profile's original_lora or dropped with tiny settings."""
    data = tmp_path / "dataset-v1"
    data.mkdir(exist_ok=True)
    training = {
        "backend": "auto", "liger": "auto", "styles": ["qa"],
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
        "max_length": 128, "max_steps": steps, "num_train_epochs": 1.0, "learning_rate": lr,
        "per_device_batch_size": 4, "gradient_accumulation_steps": 1, "warmup_ratio": 0.0,
        "weight_decay": 0.0, "lr_scheduler": "constant", "packing": False, "gradient_checkpointing": True,
        "assistant_only_loss": True, "eval_steps": every, "save_steps": every, "logging_steps": 1, "seed": 7,
    }  # fmt: skip
    config = shipped_config("original_lora" if method == "lora" else "dropped", "local", training=training,
                            surgery=surgery or {"kind": "none"})  # fmt: skip
    spec = run_spec(tmp_path / "models" / name, base_model, config=config, run_id=name, version="dataset-v1",
                    train=write_split(data / "train.jsonl", tokenizer, FACTS),
                    validation=write_split(data / f"validation-{name}.jsonl", tokenizer, validation))  # fmt: skip
    return spec.write(tmp_path / f"{name}.json")


def run_cli(spec_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        training_command(spec_path, num_gpus=0, fsdp=False),
        capture_output=True,
        text=True,
        env=training_env(),
        timeout=600,
    )


def test_lora_from_the_command_line_overfits_four_examples(tmp_path, base_model, tokenizer):
    spec = make_spec(tmp_path, base_model, tokenizer, steps=15, every=5)
    done = run_cli(spec)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "models" / "run"
    manifest = json.loads((out / "manifest.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    # Standalone (no Pipes): progress and the final metadata are plain stdout lines.
    assert "step 15/15 train_loss=" in done.stdout and f"manifest: {out / 'manifest.json'}" in done.stdout
    assert manifest["trainable_params"] < 0.05 * manifest["total_params"]
    train = [point["loss"] for point in metrics["history"]["train"]]
    assert len(train) == 15 and train[-1] < 0.4 * train[0], train
    assert metrics["loss_mode"] == "completion_only" and metrics["backend"] == "trl"
    from bmw_assets.hashing import sha256_file as file_sha256

    assert manifest["weights_sha256"] == {"adapter_model.safetensors": file_sha256(out / "adapter_model.safetensors")}
    assert manifest["dataset"]["version"] == "dataset-v1"
    assert (out / "loss_curve.png").read_bytes()[:4] == b"\x89PNG" and list(
        (out / "runs").rglob("events.out.tfevents*")
    )
    assert not list(out.glob("checkpoint-*"))  # checkpoints are dropped once the manifest is written


def test_full_finetune_of_a_dropped_layer_model_saves_its_architecture(tmp_path, base_model, tokenizer):
    from transformers import AutoModelForCausalLM

    from bmw_assets.run_specs import RunSpec
    from bmw_assets.training.reporting import StdoutReporter
    from bmw_assets.training.train import run_training

    spec = RunSpec.load(
        make_spec(
            tmp_path,
            base_model,
            tokenizer,
            method="full",
            steps=1,
            every=1,
            lr=5e-5,
            surgery={"kind": "drop", "layer": 3, "calibration_samples": 4},
        )
    )
    manifest = run_training(spec, StdoutReporter())
    out = spec.output_dir
    assert manifest["removed_layers"] == [3] and manifest["layers"] == 29
    assert manifest["trainable_params"] == manifest["total_params"]
    assert json.loads((out / "surgery.json").read_text())["kept_layers"] == [i for i in range(30) if i != 3]
    reloaded = AutoModelForCausalLM.from_pretrained(out, use_safetensors=True)
    assert len(reloaded.model.layers) == 29
    # Manifest is written last; a second run of the same spec is a no-op returning it.
    assert (out / "manifest.json").stat().st_mtime >= (out / "model.safetensors").stat().st_mtime
    started = time.perf_counter()
    assert run_training(spec, StdoutReporter()) == manifest
    assert time.perf_counter() - started < 2


def test_the_best_checkpoint_by_validation_loss_is_kept(tmp_path, base_model, tokenizer):
    # Validation asks the training questions with contradicting answers: overfitting the
    # training answers soon makes validation loss rise, so the best step is not the last.
    contradicting = [(q, "Nobody knows; ask the press office in Stuttgart.") for q, _ in FACTS]
    spec = make_spec(tmp_path, base_model, tokenizer, steps=4, every=1, lr=5e-3, validation=contradicting)
    done = run_cli(spec)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "models" / "run" / "metrics.json").read_text())
    evals = metrics["history"]["eval"]
    best = min(evals, key=lambda point: point["loss"])
    assert best["step"] < evals[-1]["step"] and evals[-1]["loss"] > best["loss"], evals
    assert metrics["best_step"] == best["step"] and metrics["best_eval_loss"] == pytest.approx(best["loss"])
    assert metrics["final_eval_loss"] == pytest.approx(best["loss"])
    # The saved adapter is the best one: evaluating it afresh gives the best loss, not the last.
    assert evals[-1]["loss"] > best["loss"] * 1.01
    assert evaluate_saved_adapter(spec, base_model, tokenizer) == pytest.approx(best["loss"], rel=1e-3)


def evaluate_saved_adapter(spec_path: Path, base_model: str, tokenizer) -> float:
    """Validation loss of the LoRA adapter a run saved, folded into the base model and measured by
    the project's own trainer (as full fine-tuning, so no new adapter is added)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from bmw_assets.run_specs import RunSpec
    from bmw_assets.training.backend import BackendChoice
    from bmw_assets.training.data import read_jsonl
    from bmw_assets.training.train import build_trainer

    run = RunSpec.load(spec_path)
    training = run.config.training.model_copy(update={"method": "full"})
    spec = run.model_copy(
        update={
            "config": run.config.model_copy(update={"training": training}),
            "output_dir": run.output_dir.parent / "re-evaluation",
        }
    )
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_model), run.output_dir)
    # No TensorBoard: evaluation alone never sets its log folder, so it would write runs/ into the cwd.
    trainer, _ = build_trainer(
        spec,
        model.merge_and_unload(),
        tokenizer,
        BackendChoice("trl", False),
        read_jsonl(run.dataset.train, None),
        read_jsonl(run.dataset.validation, None),
        sft_overrides={"report_to": []},
    )
    return float(trainer.evaluate()["eval_loss"])


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path, base_model, tokenizer):
    spec = make_spec(tmp_path, base_model, tokenizer, steps=8, every=2)
    out = tmp_path / "models" / "run"
    process = subprocess.Popen(
        training_command(spec, 0, False),
        env=training_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not (out / "checkpoint-2" / "trainer_state.json").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "manifest.json").exists()
    checkpoints = sorted(
        int(p.name.split("-")[1]) for p in out.glob("checkpoint-*") if (p / "trainer_state.json").exists()
    )
    assert checkpoints and checkpoints[-1] < 8
    # The time before the kill, as the checkpoint records it (set here to known values: the kill
    # may land between the checkpoint and its record).
    last = out / f"checkpoint-{checkpoints[-1]}"
    (last / RUN_SECONDS_FILE).write_text(json.dumps({"train_seconds": 1000.0, "wall_seconds": 2000.0}))
    tokens_before = json.loads((last / "trainer_state.json").read_text())["num_input_tokens_seen"]

    done = run_cli(spec)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming from {out / f'checkpoint-{checkpoints[-1]}'}" in done.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert metrics["resumed_from_step"] == checkpoints[-1] and metrics["global_step"] == 8
    # The whole run is reported, not the last segment: seconds and tokens before the kill count.
    assert 1000.0 < metrics["train_seconds"] < 1000.0 + 300 and 2000.0 < manifest["wall_seconds"] < 2000.0 + 300
    assert metrics["trained_tokens"] > tokens_before > 0
    assert metrics["tokens_per_second"] == pytest.approx(metrics["trained_tokens"] / metrics["train_seconds"])
    # History before the kill comes from the checkpoint; each step is logged once.
    assert [point["step"] for point in metrics["history"]["train"]] == list(range(1, 9))


def test_under_dagster_pipes_logs_and_metadata_come_back(tmp_path, base_model, tokenizer):
    spec = make_spec(tmp_path, base_model, tokenizer, steps=2, every=2)

    @dg.asset(required_resource_keys={"pipes_subprocess_client"})
    def trained_model(context):  # unannotated: this module's annotations are strings
        return context.resources.pipes_subprocess_client.run(
            command=training_command(spec, 0, False), context=context, env=training_env()
        ).get_materialize_result()

    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [trained_model], instance=instance, resources={"pipes_subprocess_client": dg.PipesSubprocessClient()}
        )
        assert result.success
        metadata = result.asset_materializations_for_node("trained_model")[0].metadata
        messages = [record.user_message for record in instance.all_logs(result.run_id)]
    assert metadata["layers"].value == 30 and metadata["removed_layers"].value == []
    manifest = json.loads((tmp_path / "models" / "run" / "manifest.json").read_text())
    assert metadata["best_eval_loss"].value == pytest.approx(
        json.loads((tmp_path / "models" / "run" / "metrics.json").read_text())["best_eval_loss"]
    )
    assert metadata["manifest"].value == str(tmp_path / "models" / "run" / "manifest.json")
    assert metadata["trainable_params"].value == manifest["trainable_params"]
    assert any("step 2/2 train_loss=" in message for message in messages), messages[-20:]
