"""Multi-GPU training through the training asset's own launcher, end to end.

For `original_lora` (DDP) and `original` (FSDP2) under the production profile: a small random
Qwen3 model (the given tokenizer's vocabulary) saved as safetensors, a synthetic dataset, a run
spec as the training asset writes it, then `training_command(spec, N, fsdp)` with
`training_env()` — the argv and environment the asset hands Dagster Pipes. A run passes when
it trained in N processes, wrote its manifest, and its saved weights load back with the
model's shapes and finite values, after evaluating and checkpointing mid-run (every steps // 2).
With `--interrupt` every process of a run is killed at its first checkpoint and the run is
started again: it passes only when it resumed there. Prints a table and writes JSON.

Run on a host with N CUDA GPUs (no network needed):
  python benchmarks/multi_gpu_launch.py --tokenizer <folder with a chat-template tokenizer> --gpus 2
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from train_throughput import parse_overrides, synthetic_rows  # noqa: E402

from bmw_assets.atomic import write_text_atomic  # noqa: E402
from bmw_assets.run_folders import TrainingRunFolder, checkpoint_step  # noqa: E402
from bmw_assets.run_specs import RunSpec, TrainingData  # noqa: E402
from bmw_assets.training.launch import training_command, training_env  # noqa: E402

RESULT_PATH = ROOT / "benchmarks" / "results" / "multi_gpu_launch.json"
SMALL_QWEN3 = dict(
    hidden_size=256,
    intermediate_size=512,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=64,
    max_position_embeddings=4096,
    tie_word_embeddings=False,
)


def write_small_model(tokenizer_dir: str, folder: Path) -> int:
    """A random small Qwen3 with the tokenizer beside it, as safetensors; its parameter count."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen3Config

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    config = Qwen3Config(vocab_size=len(tokenizer), **SMALL_QWEN3)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def write_spec(variant: str, work: Path, model_dir: Path, steps: int, overrides: dict[str, Any]) -> Path:
    """The RunSpec file for a short run of `variant` under the production profile."""
    from bmw_assets.models.config import VariantConfig, load_variant_config

    config = load_variant_config(variant, "production").model_dump(mode="json")
    config["model"]["name"] = str(model_dir)
    config["training"].update(
        max_length=512,
        max_steps=steps,
        eval_steps=steps // 2,
        save_steps=steps // 2,
        logging_steps=1,
        gradient_accumulation_steps=2,
    )
    config["training"].update(overrides)
    import torch

    if not torch.cuda.is_available():  # checking the script on a CPU: flex attention has no CPU backward
        config["training"]["attn_implementation"] = "sdpa"
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    for split, tokens, seed in (("train", 512 * steps * 8, 1), ("validation", 512 * 4, 2)):
        rows = synthetic_rows(1.3, 512, "packed", tokens, seed)
        (data / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    spec = RunSpec(run_id=f"{variant}-launch-check", config=VariantConfig.model_validate(config),
                   base_model=str(model_dir), output_dir=work / "runs" / variant,
                   dataset=TrainingData(version="launch-check", train=data / "train.jsonl",
                                        validation=data / "validation.jsonl"))  # fmt: skip
    return spec.write(work / f"{variant}.spec.json")


def check_weights(output_dir: Path, manifest: dict[str, Any], method: str, parameters: int) -> dict[str, Any]:
    """Tensor count, parameter count and finiteness of the saved weights."""
    from safetensors import safe_open

    tensors, numel, finite = 0, 0, True
    for name in manifest["paths"]["weights"]:
        with safe_open(str(output_dir / name), framework="pt") as handle:
            for key in handle.keys():
                tensor = handle.get_tensor(key)
                tensors, numel = tensors + 1, numel + tensor.numel()
                finite = finite and bool(tensor.float().isfinite().all())
    expected = SMALL_QWEN3["num_hidden_layers"] * 7 * 2 if method == "lora" else None
    ok = finite and (tensors == expected if expected else numel == parameters)
    return {"weight_tensors": tensors, "weight_parameters": numel, "weights_finite": finite, "weights_ok": ok}


def kill_at_first_checkpoint(command: list[str], output_dir: Path, log: Path, timeout: int) -> int | None:
    """Start the run and kill all its processes, as a lost machine would, once its first
    checkpoint is complete; that checkpoint's step (None: the run ended or timed out first)."""
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(command, env=training_env(), stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        try:
            while process.poll() is None and time.monotonic() < deadline:
                checkpoint = TrainingRunFolder(output_dir).last_complete_checkpoint()
                if checkpoint is not None:
                    return checkpoint_step(checkpoint)
                time.sleep(0.05)
            return None
        finally:
            if process.poll() is None:
                # torch's elastic agent starts the ranks in sessions of their own: kill them by pid.
                for child in psutil.Process(process.pid).children(recursive=True):
                    child.kill()
                process.kill()
                process.wait()


def run(
    variant: str,
    gpus: int,
    work: Path,
    model_dir: Path,
    parameters: int,
    steps: int,
    timeout: int,
    overrides: dict[str, Any],
    interrupt: bool = False,
) -> dict:
    method = "lora" if variant.endswith("_lora") else "full"
    spec_path = write_spec(variant, work, model_dir, steps, overrides)
    run_folder = RunSpec.load(spec_path).folder
    output_dir = run_folder.path
    # A run folder left by an earlier check would be resumed or returned as already complete.
    shutil.rmtree(output_dir, ignore_errors=True)
    command = training_command(spec_path, num_gpus=gpus, fsdp=method == "full")
    killed_at = (
        kill_at_first_checkpoint(command, output_dir, work / f"{variant}.killed.log", timeout) if interrupt else None
    )
    started = time.perf_counter()
    done = subprocess.run(command, env=training_env(), capture_output=True, text=True, timeout=timeout)
    result: dict[str, Any] = {
        "variant": variant,
        "method": method,
        "gpus": gpus,
        "training": overrides,
        "command": command[:12],
        "exit": done.returncode,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    if interrupt:
        result["killed_at_step"] = killed_at
    manifest = run_folder.read_manifest()
    log = work / f"{variant}.log"
    log.write_text(done.stdout + "\n--- stderr ---\n" + done.stderr, encoding="utf-8")
    result["log"] = str(log)
    if done.returncode != 0 or manifest is None:
        # The first errors say why; a rank's abort afterwards fills the tail with frames.
        errors = [line for line in done.stderr.splitlines() if "Error" in line or "error:" in line][:20]
        return {**result, "passed": False, "errors": errors, "stderr_tail": done.stderr[-2000:]}
    metrics = run_folder.read_metrics()
    weights = check_weights(output_dir, manifest, method, parameters)
    losses = [entry["loss"] for entry in metrics["history"]["train"]]
    result.update(
        processes=metrics.get("processes"),
        global_step=metrics["global_step"],
        losses=losses,
        best_eval_loss=metrics["best_eval_loss"],
        best_step=metrics["best_step"],
        final_eval_loss=metrics["final_eval_loss"],
        resumed_from_step=metrics["resumed_from_step"],
        tokens_per_second=metrics["tokens_per_second"],
        **weights,
    )
    # Evaluation and a checkpoint every steps // 2: training goes on after both before it ends;
    # a killed run goes on from its checkpoint.
    result["passed"] = bool(
        result["processes"] == gpus
        and metrics["global_step"] == steps
        and weights["weights_ok"]
        and losses
        and all(math.isfinite(x) for x in losses)
        and metrics["best_step"] is not None
        and (not interrupt or (killed_at is not None and metrics["resumed_from_step"] == killed_at))
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", required=True, help="folder with a chat-template tokenizer")
    parser.add_argument("--gpus", type=int, default=2)
    parser.add_argument("--variants", default="original_lora,original")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--training", default="", help="key=value,... laid over the training section")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/multi_gpu_launch"))
    parser.add_argument("--timeout", type=int, default=300, help="seconds one run may take")
    parser.add_argument(
        "--interrupt",
        action="store_true",
        help="kill each run at its first checkpoint, then run it again: it must resume there",
    )
    parser.add_argument("--out", type=Path, default=RESULT_PATH)
    args = parser.parse_args(argv)
    model_dir = args.work_dir / "small-qwen3"
    parameters = write_small_model(args.tokenizer, model_dir)
    results = []
    for variant in filter(None, args.variants.split(",")):
        print(f"== {variant} on {args.gpus} GPU(s)", flush=True)
        result = run(
            variant,
            args.gpus,
            args.work_dir,
            model_dir,
            parameters,
            args.steps,
            args.timeout,
            parse_overrides(args.training),
            args.interrupt,
        )
        print(json.dumps(result)[:3000], flush=True)
        results.append(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        args.out, json.dumps({"model": SMALL_QWEN3, "parameters": parameters, "results": results}, indent=2) + "\n"
    )
    print(f"{'variant':16} {'gpus':>4} {'procs':>5} {'steps':>5} {'wall s':>7} {'last loss':>9}  passed")
    for r in results:
        last = r["losses"][-1] if r.get("losses") else float("nan")
        print(
            f"{r['variant']:16} {r['gpus']:4} {r.get('processes') or '-':>5} {r.get('global_step', '-'):>5} "
            f"{r['wall_s']:7.1f} {last:9.3f}  {r['passed']}"
        )
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
