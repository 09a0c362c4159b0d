"""Fine-tune one model variant: `python -m bmw_assets.training.train --spec run_spec.json`.

Loads the base model (safetensors only), applies the configured layer surgery, trains
with TRL's SFTTrainer (LoRA through `peft_config`, or full fine-tuning), keeps the
checkpoint with the lowest validation loss, and writes weights, tokenizer, resolved
config, surgery report, metrics, loss curve and finally `manifest.json` into the spec's
output_dir. Re-running an interrupted spec resumes from its last checkpoint; re-running
a completed one returns its manifest without training.

Launched by Dagster Pipes it streams logs and the materialization back; from a command
line it prints to stdout. Imports only dagster_pipes and the ML stack (never dagster).
transformers, TRL, PEFT and datasets are imported inside the functions that use them, after
the backend is chosen: Unsloth patches them only when it is imported first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from bmw_assets.atomic import write_json_atomic
from bmw_assets.hashing import sha256_file as file_sha256
from bmw_assets.hashing import sha256_json
from bmw_assets.models.surgery import (
    apply_surgery,
    build_calibration_batches,
    plot_layer_scores,
)
from bmw_assets.training.artifacts import (
    MANIFEST_NAME,
    loss_history,
    plot_loss_curves,
    read_manifest,
)
from bmw_assets.training.backend import (
    BackendChoice,
    import_backend_first,
    resolve_backend,
)
from bmw_assets.training.data import (
    LossMode,
    choose_loss_mode,
    read_jsonl,
    to_trainer_rows,
)
from bmw_assets.training.quantization import check_quantization, require_bitsandbytes
from bmw_assets.training.reporting import (
    Reporter,
    metadata_json,
    metadata_path,
    open_reporter,
)
from bmw_assets.training.spec import RunSpec
from bmw_assets.training.tracking import (
    TENSORBOARD_DIR,
    check_tracker,
    tracker_environment,
    trainer_report_to,
)

LOSS_CURVE_NAME = "loss_curve.png"
LAYER_SCORES_NAME = "layer_scores.png"


def load_model(spec: RunSpec, backend: BackendChoice, dtype: torch.dtype) -> tuple[Any, Any]:
    """(model, tokenizer) for spec.base_model (safetensors only) in `dtype`, on the CPU for
    the TRL backend and on the GPU for Unsloth, whose loader also sets up its own
    activation checkpointing from training.gradient_checkpointing."""
    model_cfg = spec.config["model"]
    training = spec.config["training"]
    trust_remote_code = bool(model_cfg.get("trust_remote_code", False))
    if backend.name == "unsloth":
        from unsloth import (
            FastLanguageModel,  # CUDA hosts only; resolve_backend checked
        )

        return FastLanguageModel.from_pretrained(
            model_name=spec.base_model,
            max_seq_length=training["max_length"],
            dtype=dtype,
            load_in_4bit=training.get("quantization", "none") == "4bit",  # Unsloth's own QLoRA loader
            full_finetuning=training["method"] == "full",
            use_gradient_checkpointing="unsloth" if training.get("gradient_checkpointing", False) else False,
            trust_remote_code=trust_remote_code,
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec.base_model, trust_remote_code=trust_remote_code)
    if training.get("quantization", "none") == "4bit":
        from bmw_assets.training.quantization import load_4bit_for_training

        device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
        return load_4bit_for_training(spec.base_model, dtype, device, training, trust_remote_code), tokenizer
    model = AutoModelForCausalLM.from_pretrained(
        spec.base_model, dtype=dtype, use_safetensors=True, trust_remote_code=trust_remote_code
    )
    return model, tokenizer


def checkpoint_step(checkpoint: Path | str) -> int:
    """The optimizer step of a Trainer `checkpoint-<step>` folder."""
    return int(Path(checkpoint).name.rsplit("-", 1)[1])


def last_complete_checkpoint(output_dir: Path) -> Path | None:
    """The highest-step checkpoint-* folder holding trainer_state.json, which the Trainer
    writes last: a run killed mid-save leaves a folder without it, and that one is skipped."""
    complete = [path for path in output_dir.glob("checkpoint-*") if (path / "trainer_state.json").is_file()]
    return max(complete, key=checkpoint_step, default=None)


def _layer_count(model: Any) -> int:
    return int(model.config.num_hidden_layers)


def _apply_surgery(
    spec: RunSpec, model: Any, tokenizer: Any, train_rows: list[dict], reporter: Reporter
) -> dict[str, Any]:
    """Apply config["surgery"] in place, scoring layers on the first `calibration_samples`
    training texts (their order in the file, so a resumed run scores the same rows);
    the report as a JSON-ready dict. A layer-score plot is written when there are scores."""
    surgery_cfg = spec.config["surgery"]
    calibration = None
    if surgery_cfg.get("kind", "none") != "none":
        texts = [row["text"] for row in train_rows[: int(surgery_cfg.get("calibration_samples", 32))]]
        batches = build_calibration_batches(tokenizer, texts, max_length=int(spec.config["training"]["max_length"]))
        calibration = [{key: tensor.to(model.device) for key, tensor in batch.items()} for batch in batches]
    report = apply_surgery(model, surgery_cfg, calibration, progress=reporter.log)
    if report.scores:
        plot_layer_scores(report, spec.output_dir / LAYER_SCORES_NAME)
    return report.to_dict()


def _check_same_surgery(output_dir: Path, report: dict[str, Any]) -> None:
    """A resumed run must rebuild exactly the architecture its checkpoints were saved from."""
    saved_path = output_dir / "surgery.json"
    if not saved_path.is_file():
        return
    saved = json.loads(saved_path.read_text(encoding="utf-8"))
    if saved["removed_layers"] != report["removed_layers"]:
        raise RuntimeError(
            f"surgery removed layers {report['removed_layers']} but the checkpoints in {output_dir} were "
            f"trained with layers {saved['removed_layers']} removed; delete {output_dir} to start over"
        )


def _lora_config(training: dict[str, Any]) -> Any:
    """PEFT's LoraConfig for a LoRA run, None for full fine-tuning."""
    if training["method"] == "full":
        return None
    if training["method"] != "lora":
        raise ValueError(f"training.method is {training['method']!r}; expected 'full' or 'lora'")
    from peft import LoraConfig

    lora = training["lora"]
    return LoraConfig(
        r=int(lora["r"]),
        lora_alpha=int(lora["alpha"]),
        lora_dropout=float(lora["dropout"]),
        target_modules=lora["target_modules"],
        task_type="CAUSAL_LM",
    )


def _unsloth_peft_model(model: Any, training: dict[str, Any]) -> Any:
    """The model with LoRA adapters through Unsloth, whose fused LoRA kernels apply only to
    adapters it adds itself (a peft_config handed to the trainer gets PEFT's plain layers)."""
    from unsloth import FastLanguageModel

    lora = training["lora"]
    return FastLanguageModel.get_peft_model(
        model,
        r=int(lora["r"]),
        lora_alpha=int(lora["alpha"]),
        lora_dropout=float(lora["dropout"]),
        target_modules=lora["target_modules"],
        use_gradient_checkpointing="unsloth" if training.get("gradient_checkpointing", False) else False,
        random_state=int(training.get("seed", 0)),
    )


def fsdp_launch() -> bool:
    """True in a process of a multi-GPU `accelerate launch --use_fsdp` run (full fine-tuning)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true" and int(os.environ.get("WORLD_SIZE", "1")) > 1


def uses_kahan_adamw(training: dict[str, Any], cuda: bool) -> bool:
    """Whether the run's AdamW adds updates to the weights with Kahan summation (optimi).

    `auto` picks it for full fine-tuning in one process on a GPU, where the weights are bf16:
    an update of ~1e-5 is below half a bf16 step of most weights, so plain AdamW rounds it
    away (one step at lr 1e-5 changed 2% of SmolLM2's weights). FSDP keeps fp32 master
    weights, LoRA trains fp32 adapters, and CPU runs train in fp32: fused AdamW there."""
    choice = training.get("optimizer", "auto")
    if choice == "auto":
        return cuda and training["method"] == "full" and not fsdp_launch()
    return choice == "adamw_kahan"


def kahan_adamw(args: Any) -> tuple[type, dict[str, Any]]:
    """optimi's AdamW with Kahan summation and the SFTConfig's hyperparameters, as the
    Trainer's `optimizer_cls_and_kwargs` (its scheduler and weight-decay groups still apply)."""
    from optimi import AdamW

    return AdamW, {"lr": args.learning_rate, "betas": (args.adam_beta1, args.adam_beta2), "eps": args.adam_epsilon,
                   "weight_decay": args.weight_decay, "kahan_sum": True}


def optimizer_name(trainer: Any) -> str:
    """module.Class of the optimizer a trainer built (accelerate wraps it)."""
    optimizer = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
    return f"{type(optimizer).__module__}.{type(optimizer).__name__}"


def _sft_config(spec: RunSpec, mode: LossMode, backend: BackendChoice, cuda: bool, overrides: dict[str, Any]) -> Any:
    from trl import SFTConfig

    training = spec.config["training"]
    # Unsloth sets up its own (offloaded) checkpointing when it loads the model or adds adapters.
    checkpointing = bool(training.get("gradient_checkpointing", False)) and backend.name != "unsloth"
    settings = dict(
        output_dir=str(spec.output_dir),
        max_length=int(training["max_length"]),
        max_steps=int(training.get("max_steps") or -1),
        num_train_epochs=float(training.get("num_train_epochs", 1)),
        learning_rate=float(training["learning_rate"]),
        per_device_train_batch_size=int(training["per_device_batch_size"]),
        per_device_eval_batch_size=int(training["per_device_batch_size"]),
        gradient_accumulation_steps=int(training.get("gradient_accumulation_steps", 1)),
        warmup_steps=float(training.get("warmup_ratio", 0.0)),  # a float < 1 is a ratio of total steps
        weight_decay=float(training.get("weight_decay", 0.0)),
        lr_scheduler_type=training.get("lr_scheduler", "linear"),
        packing=bool(training.get("packing", False)),
        gradient_checkpointing=checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        assistant_only_loss=mode is LossMode.ASSISTANT_MASK,
        completion_only_loss=True if mode is LossMode.COMPLETION_ONLY else None,
        eval_strategy="steps",
        eval_steps=int(training["eval_steps"]),
        save_strategy="steps",
        save_steps=int(training["save_steps"]),
        logging_steps=int(training.get("logging_steps", 1)),
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        save_total_limit=2,  # the best and the latest checkpoint are all that selection and resume need
        seed=int(training.get("seed", 0)),
        bf16=cuda,
        use_liger_kernel=backend.use_liger,
        report_to=trainer_report_to(training.get("report_to", "tensorboard")),
        run_name=f"{spec.variant}/{spec.run_id}",
        include_num_input_tokens_seen="non_padding",
        ddp_find_unused_parameters=False,
        disable_tqdm=True,
        dataloader_pin_memory=cuda,
        torch_compile=bool(training.get("torch_compile", False)) and backend.name == "trl",
    )
    if training.get("attn_implementation") == "flex_attention" and settings["packing"]:
        # One packed length for every batch: flex attention's kernels compile once, not per length.
        settings["pad_to_multiple_of"] = settings["max_length"]
    return SFTConfig(**{**settings, **overrides})


def _parameter_counts(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def _weight_files(output_dir: Path) -> list[Path]:
    files = sorted(output_dir.glob("*.safetensors")) + sorted((output_dir / "merged").glob("*.safetensors"))
    if not files:
        raise RuntimeError(f"training finished but wrote no *.safetensors into {output_dir}")
    return files


def materialization_metadata(manifest: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """The asset materialization metadata reported through Pipes for a completed run."""
    output_dir = Path(manifest["output_dir"])
    return {
        "variant": manifest["variant"],
        "run_id": manifest["run_id"],
        "final_train_loss": metrics["final_train_loss"],
        "best_eval_loss": metrics["best_eval_loss"],
        "tokens_per_second": metrics["tokens_per_second"],
        "trainable_params": manifest["trainable_params"],
        "total_params": manifest["total_params"],
        "layers": manifest["layers"],
        "removed_layers": metadata_json(manifest["removed_layers"]),
        "wall_seconds": manifest["wall_seconds"],
        "device": manifest["device"],
        "loss_curve": metadata_path(output_dir / manifest["paths"]["loss_curve"]),
        "manifest": metadata_path(output_dir / MANIFEST_NAME),
    }


def build_trainer(
    spec: RunSpec,
    model: Any,
    tokenizer: Any,
    backend: BackendChoice,
    train_rows: list[dict[str, Any]],
    validation_rows: list[dict[str, Any]],
    *,
    callbacks: list[Any] | None = None,
    sft_overrides: dict[str, Any] | None = None,
) -> tuple[Any, LossMode]:
    """The SFTTrainer a run of `spec` trains with, and the loss mode it uses.

    `model`/`tokenizer` come from load_model (or any causal LM of the same kind, already on
    its device); rows are dataset JSONL rows. LoRA adapters are added here (through Unsloth
    on that backend). `sft_overrides` replaces SFTConfig fields (benchmarks switch off
    evaluation and saving with it). Callbacks are added and stdout printing removed.
    """
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import SFTTrainer

    training = spec.config["training"]
    cuda = torch.cuda.is_available()
    mode = choose_loss_mode(tokenizer, bool(training.get("assistant_only_loss", True)))
    peft_config = _lora_config(training)
    if peft_config is not None and backend.name == "unsloth":
        model, peft_config = _unsloth_peft_model(model, training), None
    attention = training.get("attn_implementation", "sdpa")
    if backend.name == "trl" and model.config._attn_implementation != attention:
        model.set_attn_implementation(attention)
    args = _sft_config(spec, mode, backend, cuda, sft_overrides or {})
    trainer = SFTTrainer(
        model=model,
        args=args,
        optimizer_cls_and_kwargs=kahan_adamw(args) if uses_kahan_adamw(training, cuda) else None,
        train_dataset=Dataset.from_list(to_trainer_rows(train_rows, mode)),
        eval_dataset=Dataset.from_list(to_trainer_rows(validation_rows, mode)),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks or [],
    )
    if cuda and peft_config is not None:
        # PEFT casts each projection's input to the fp32 adapters and bf16 autocast casts it back:
        # two copies of a tokens x hidden activation per projection, 15% of a LoRA step on an H200.
        # Without that cast, autocast casts the small adapter weights instead.
        for module in trainer.model.modules():
            if hasattr(module, "cast_input_dtype_enabled"):
                module.cast_input_dtype_enabled = False
    if fsdp_launch():
        from bmw_assets.training.fsdp_tracking import ClearFsdpGroupsAfterEvaluation

        trainer.add_callback(ClearFsdpGroupsAfterEvaluation())
    trainer.remove_callback(PrinterCallback)  # LossStreamCallback reports instead of raw dicts on stdout
    return trainer, mode


def run_training(spec: RunSpec, reporter: Reporter) -> dict[str, Any]:
    """Train `spec` to completion (or resume it) and return its manifest (a dict).

    A completed output_dir (manifest present) is returned as is, without loading a model.
    """
    started = time.perf_counter()
    output_dir = spec.output_dir
    completed = read_manifest(output_dir)
    if completed is not None:
        reporter.log(f"{output_dir} already holds a completed run; nothing to train")
        metrics = json.loads((output_dir / completed["paths"]["metrics"]).read_text(encoding="utf-8"))
        reporter.report_materialization(materialization_metadata(completed, metrics))
        return completed

    training = spec.config["training"]
    report_to = training.get("report_to", "tensorboard")
    check_tracker(report_to)  # before any model is loaded
    tracker_environment(report_to, spec.tracking_dir)
    cuda = torch.cuda.is_available()
    check_quantization(training.get("quantization", "none"), cuda)  # before any model is loaded
    if training.get("quantization", "none") == "4bit":
        require_bitsandbytes()
    backend = resolve_backend(
        training.get("backend", "trl"),
        training.get("liger", "auto"),
        cuda,
        method=training["method"],
        packing=bool(training.get("packing", False)),
    )
    import_backend_first(backend)
    from transformers import set_seed

    set_seed(int(training.get("seed", 0)))
    if not cuda:
        torch.set_num_threads(spec.cpu_threads)
    dtype = torch.bfloat16 if cuda else torch.float32
    device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if cuda else "cpu"
    output_dir.mkdir(parents=True, exist_ok=True)
    resume_from = last_complete_checkpoint(output_dir)

    reporter.log(f"loading {spec.base_model} ({dtype}, backend {backend.name}, liger {backend.use_liger}) on {device}")
    model, tokenizer = load_model(spec, backend, dtype)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(model, "is_quantized", False):  # a 4-bit model is placed by its loader and cannot move
        model.to(device)

    styles = training.get("styles") or None
    train_rows = read_jsonl(spec.train_path, styles)
    validation_rows = read_jsonl(spec.validation_path, styles)

    surgery = _apply_surgery(spec, model, tokenizer, train_rows, reporter)
    _check_same_surgery(output_dir, surgery)
    reporter.log(f"surgery {surgery['kind']}: removed layers {surgery['removed_layers']}, {_layer_count(model)} left")
    write_json_atomic(output_dir / "surgery.json", surgery)
    write_json_atomic(output_dir / "resolved_config.json", spec.config)

    from bmw_assets.training.loss_stream import LossStreamCallback

    callback = LossStreamCallback(reporter)
    trainer, mode = build_trainer(spec, model, tokenizer, backend, train_rows, validation_rows, callbacks=[callback])
    reporter.log(f"loss on {mode.value}; {len(train_rows)} train rows, {len(validation_rows)} validation rows")
    trainable_params, total_params = _parameter_counts(trainer.model)
    reporter.log(f"trainable parameters {trainable_params:,} of {total_params:,}")
    if resume_from:
        reporter.log(f"resuming from {resume_from}")
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    history = loss_history(trainer.state.log_history)
    # The best checkpoint, reloaded at train end, was evaluated when it was saved: evaluate only
    # when no evaluation ran (a run shorter than eval_steps).
    final_eval_loss = trainer.state.best_metric
    if final_eval_loss is None:
        final_eval_loss = float(trainer.evaluate()["eval_loss"])
    trainer.save_model(str(output_dir))  # adapter for LoRA, full weights otherwise; plus the tokenizer
    if not trainer.is_world_process_zero():
        return {}

    if training["method"] == "lora" and training.get("merge_lora", False):
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(str(output_dir / "merged"))
        tokenizer.save_pretrained(str(output_dir / "merged"))

    plot_loss_curves(history, output_dir / LOSS_CURVE_NAME, f"{spec.variant} ({spec.run_id})")
    best_checkpoint = trainer.state.best_model_checkpoint
    metrics = {
        "history": history,
        "final_train_loss": history["train"][-1]["loss"] if history["train"] else None,
        "best_eval_loss": trainer.state.best_metric,
        "best_step": checkpoint_step(best_checkpoint) if best_checkpoint else None,
        "final_eval_loss": final_eval_loss,
        "global_step": trainer.state.global_step,
        "resumed_from_step": checkpoint_step(resume_from) if resume_from else None,
        "tokens_per_second": callback.tokens_per_second,
        "trained_tokens": callback.trained_tokens,
        "trainable_params": trainable_params,
        "total_params": total_params,
        "loss_mode": mode.value,
        "backend": backend.name,
        "use_liger": backend.use_liger,
        "processes": trainer.accelerator.num_processes,  # GPUs of a multi-GPU launch
        "optimizer": optimizer_name(trainer),
    }
    write_json_atomic(output_dir / "metrics.json", metrics)

    weights = _weight_files(output_dir)
    manifest = {
        "variant": spec.variant,
        "run_id": spec.run_id,
        "output_dir": str(output_dir),
        "base_model": spec.base_model,
        "method": training["method"],
        "config_sha256": sha256_json(spec.config),
        "dataset": {
            "version": spec.dataset_version or spec.train_path.parent.name,
            "train": {"path": str(spec.train_path), "sha256": file_sha256(spec.train_path)},
            "validation": {"path": str(spec.validation_path), "sha256": file_sha256(spec.validation_path)},
        },
        "weights_sha256": {str(path.relative_to(output_dir)): file_sha256(path) for path in weights},
        "paths": {
            "weights": [str(path.relative_to(output_dir)) for path in weights],
            "merged": "merged" if (output_dir / "merged").is_dir() else None,
            "tokenizer": ".",
            "resolved_config": "resolved_config.json",
            "surgery": "surgery.json",
            "metrics": "metrics.json",
            "loss_curve": LOSS_CURVE_NAME,
            "layer_scores": LAYER_SCORES_NAME if (output_dir / LAYER_SCORES_NAME).is_file() else None,
            "tensorboard": TENSORBOARD_DIR if training.get("report_to", "tensorboard") == "tensorboard" else None,
        },
        "layers": _layer_count(model),
        "removed_layers": surgery["removed_layers"],
        "trainable_params": trainable_params,
        "total_params": total_params,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "wall_seconds": round(time.perf_counter() - started, 2),
        "completed_at": dt.datetime.now(dt.timezone.utc).isoformat(),
    }
    write_json_atomic(output_dir / MANIFEST_NAME, manifest)
    # Checkpoints only serve resume and best-model selection, both done now; they hold optimizer state.
    for checkpoint in output_dir.glob("checkpoint-*"):
        shutil.rmtree(checkpoint, ignore_errors=True)
    reporter.log(f"wrote {output_dir / MANIFEST_NAME}")
    reporter.report_materialization(materialization_metadata(manifest, metrics))
    return manifest


def main(argv: list[str] | None = None) -> int:
    """CLI: `--spec run_spec.json`; exit status 0 when the run completed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True, help="run_spec.json (CONTRACTS.md)")
    args = parser.parse_args(argv)
    spec = RunSpec.load(args.spec)
    with open_reporter() as reporter:
        run_training(spec, reporter)
    return 0


if __name__ == "__main__":
    sys.exit(main())
