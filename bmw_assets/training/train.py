"""Fine-tune one model variant: `python -m bmw_assets.training.train --spec run_spec.json`.

The spec is a `bmw_assets.run_specs.RunSpec`; every setting comes from its validated config, none
is restated here. A run goes through five steps, each a function below: `prepare_process` (tracker,
backend, seed, threads), `load_run` (base model in safetensors, dataset rows), `apply_run_surgery`
(the configured layer surgery), `build_trainer` (TRL's SFTTrainer; LoRA through `peft_config`, or
full fine-tuning) with `train_to_best` (resume, train, keep the checkpoint with the lowest
validation loss), and `record_run` (weights, metrics, loss curve and finally the manifest, in the
folder `bmw_assets.run_folders.TrainingRunFolder` lays out). Re-running an interrupted spec resumes
from its last checkpoint; re-running a completed one returns its manifest without training.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bmw_assets.atomic import write_json_atomic
from bmw_assets.hashing import sha256_file as file_sha256
from bmw_assets.models.config import TrainingSection, training_config_sha256
from bmw_assets.models.loading import cpu_has_bf16
from bmw_assets.models.surgery import (
    apply_surgery,
    build_calibration_batches,
    plot_layer_scores,
)
from bmw_assets.run_folders import (
    LAYER_SCORES_FILE,
    LOSS_CURVE_FILE,
    MERGED_DIR,
    METRICS_FILE,
    RESOLVED_CONFIG_FILE,
    SURGERY_FILE,
    TENSORBOARD_DIR,
    TrainingRunFolder,
    checkpoint_step,
)
from bmw_assets.run_specs import RunSpec
from bmw_assets.training.artifacts import loss_history, plot_loss_curves
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
from bmw_assets.training.tracking import (
    check_tracker,
    tracker_environment,
    trainer_report_to,
)


@dataclass(frozen=True)
class RunDevice:
    """Where and how this process trains: the backend, and the device and dtype the model goes to."""

    backend: BackendChoice
    cuda: bool
    dtype: torch.dtype
    device: str


@dataclass
class LoadedRun:
    """The model and tokenizer of a run (on its device) and the dataset rows it trains on."""

    model: Any
    tokenizer: Any
    train_rows: list[dict[str, Any]]
    validation_rows: list[dict[str, Any]]


@dataclass(frozen=True)
class TrainedRun:
    """What training left behind besides the saved weights."""

    history: dict[str, list[dict[str, float]]]
    final_eval_loss: float
    resumed_from: Path | None
    trainable_params: int
    total_params: int
    loss_mode: LossMode


def prepare_process(spec: RunSpec) -> RunDevice:
    """Set this process up for `spec` before any model is loaded: the tracker checked and pointed at
    its store, the backend resolved (and Unsloth imported first when chosen), the seed set and, on
    a CPU, torch's threads limited to spec.cpu_threads."""
    training = spec.config.training
    check_tracker(training.report_to)
    tracker_environment(training.report_to, spec.tracking_dir)
    cuda = torch.cuda.is_available()
    check_quantization(training.quantization, cuda)  # before any model is loaded
    if training.quantization == "4bit":
        require_bitsandbytes()
    backend = resolve_backend(training.backend, training.liger, cuda, method=training.method, packing=training.packing)
    import_backend_first(backend)
    from transformers import set_seed

    set_seed(training.seed)
    if not cuda:
        torch.set_num_threads(spec.cpu_threads)
    return RunDevice(
        backend=backend,
        cuda=cuda,
        dtype=torch.bfloat16 if cuda else torch.float32,
        device=f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if cuda else "cpu",
    )


def load_model(spec: RunSpec, backend: BackendChoice, dtype: torch.dtype) -> tuple[Any, Any]:
    """(model, tokenizer) for spec.base_model (safetensors only) in `dtype`, on the CPU for
    the TRL backend and on the GPU for Unsloth, whose loader also sets up its own
    activation checkpointing from training.gradient_checkpointing."""
    trust_remote_code = spec.config.model.trust_remote_code
    training = spec.config.training
    if backend.name == "unsloth":
        from unsloth import (
            FastLanguageModel,  # CUDA hosts only; resolve_backend checked
        )

        return FastLanguageModel.from_pretrained(
            model_name=spec.base_model,
            max_seq_length=training.max_length,
            dtype=dtype,
            load_in_4bit=training.quantization == "4bit",  # Unsloth's own QLoRA loader
            full_finetuning=training.method == "full",
            use_gradient_checkpointing="unsloth" if training.gradient_checkpointing else False,
            trust_remote_code=trust_remote_code,
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec.base_model, trust_remote_code=trust_remote_code)
    if training.quantization == "4bit":
        from bmw_assets.training.quantization import load_4bit_for_training

        device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
        return load_4bit_for_training(spec.base_model, dtype, device, training, trust_remote_code), tokenizer
    model = AutoModelForCausalLM.from_pretrained(
        spec.base_model, dtype=dtype, use_safetensors=True, trust_remote_code=trust_remote_code
    )
    return model, tokenizer


def load_run(spec: RunSpec, device: RunDevice, reporter: Reporter) -> LoadedRun:
    """The base model on its device (pad token set) and the rows of the configured styles."""
    reporter.log(
        f"loading {spec.base_model} ({device.dtype}, backend {device.backend.name}, "
        f"liger {device.backend.use_liger}) on {device.device}"
    )
    model, tokenizer = load_model(spec, device.backend, device.dtype)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(model, "is_quantized", False):  # a 4-bit model is placed by its loader and cannot move
        model.to(device.device)
    styles = spec.config.training.styles
    train_rows, validation_rows = read_jsonl(spec.dataset.train, styles), read_jsonl(spec.dataset.validation, styles)
    return LoadedRun(model, tokenizer, train_rows, validation_rows)


def apply_run_surgery(spec: RunSpec, run: LoadedRun, reporter: Reporter) -> dict[str, Any]:
    """Apply config.surgery to the loaded model in place, scoring layers on the first
    `calibration_samples` training texts (their order in the file, so a resumed run scores the same
    rows); writes surgery.json, resolved_config.json and, when there are scores, the layer-score
    plot. Returns the surgery report (a JSON-ready dict); RuntimeError when a resumed run's
    checkpoints were trained with other layers removed."""
    surgery_cfg = spec.config.surgery
    folder = spec.folder
    calibration = None
    if surgery_cfg.kind != "none":
        texts = [row["text"] for row in run.train_rows[: surgery_cfg.calibration_samples]]
        batches = build_calibration_batches(run.tokenizer, texts, max_length=spec.config.training.max_length)
        calibration = [{key: tensor.to(run.model.device) for key, tensor in batch.items()} for batch in batches]
    scored = apply_surgery(run.model, surgery_cfg, calibration, progress=reporter.log)
    if scored.scores:
        plot_layer_scores(scored, folder.layer_scores)
    report = scored.to_dict()
    _check_same_surgery(folder, report)
    reporter.log(f"surgery {report['kind']}: removed layers {report['removed_layers']}, {_layer_count(run.model)} left")
    write_json_atomic(folder.surgery, report)
    write_json_atomic(folder.resolved_config, spec.config.model_dump(mode="json"))
    return report


def _layer_count(model: Any) -> int:
    return int(model.config.num_hidden_layers)


def _check_same_surgery(folder: TrainingRunFolder, report: dict[str, Any]) -> None:
    """A resumed run must rebuild exactly the architecture its checkpoints were saved from."""
    if not folder.surgery.is_file():
        return
    saved = json.loads(folder.surgery.read_text(encoding="utf-8"))
    if saved["removed_layers"] != report["removed_layers"]:
        raise RuntimeError(
            f"surgery removed layers {report['removed_layers']} but the checkpoints in {folder.path} were "
            f"trained with layers {saved['removed_layers']} removed; delete {folder.path} to start over"
        )


def _lora_config(training: TrainingSection) -> Any:
    """PEFT's LoraConfig for a LoRA run, None for full fine-tuning."""
    if training.method == "full":
        return None
    from peft import LoraConfig

    lora = training.lora
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )


def _unsloth_peft_model(model: Any, training: TrainingSection) -> Any:
    """The model with LoRA adapters through Unsloth, whose fused LoRA kernels apply only to
    adapters it adds itself (a peft_config handed to the trainer gets PEFT's plain layers)."""
    from unsloth import FastLanguageModel

    lora = training.lora
    return FastLanguageModel.get_peft_model(
        model,
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        use_gradient_checkpointing="unsloth" if training.gradient_checkpointing else False,
        random_state=training.seed,
    )


def fsdp_launch() -> bool:
    """True in a process of a multi-GPU `accelerate launch --use_fsdp` run (full fine-tuning)."""
    return (
        os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true" and int(os.environ.get("WORLD_SIZE", "1")) > 1
    )


def uses_kahan_adamw(training: TrainingSection, cuda: bool) -> bool:
    """Whether the run's AdamW adds updates to the weights with Kahan summation (optimi).

    `auto` picks it for full fine-tuning in one process on a GPU, where the weights are bf16:
    an update of ~1e-5 is below half a bf16 step of most weights, so plain AdamW rounds it
    away (one step at lr 1e-5 changed 2% of SmolLM2's weights). FSDP keeps fp32 master
    weights, LoRA trains fp32 adapters, and CPU runs train in fp32: fused AdamW there."""
    if training.optimizer == "auto":
        return cuda and training.method == "full" and not fsdp_launch()
    return training.optimizer == "adamw_kahan"


def kahan_adamw(args: Any) -> tuple[type, dict[str, Any]]:
    """optimi's AdamW with Kahan summation and the SFTConfig's hyperparameters, as the
    Trainer's `optimizer_cls_and_kwargs` (its scheduler and weight-decay groups still apply)."""
    from optimi import AdamW

    return AdamW, {
        "lr": args.learning_rate,
        "betas": (args.adam_beta1, args.adam_beta2),
        "eps": args.adam_epsilon,
        "weight_decay": args.weight_decay,
        "kahan_sum": True,
    }


def optimizer_name(trainer: Any) -> str:
    """module.Class of the optimizer a trainer built (accelerate wraps it)."""
    optimizer = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
    return f"{type(optimizer).__module__}.{type(optimizer).__name__}"


def sft_config(spec: RunSpec, mode: LossMode, backend: BackendChoice, cuda: bool, overrides: dict[str, Any]) -> Any:
    """TRL's SFTConfig for `spec`: every hyperparameter from config.training, `overrides` laid on top."""
    from trl import SFTConfig

    training = spec.config.training
    settings = dict(
        output_dir=str(spec.output_dir),
        max_length=training.max_length,
        max_steps=training.max_steps,
        num_train_epochs=training.num_train_epochs,
        learning_rate=training.learning_rate,
        per_device_train_batch_size=training.per_device_batch_size,
        per_device_eval_batch_size=training.per_device_batch_size,
        gradient_accumulation_steps=training.gradient_accumulation_steps,
        warmup_steps=training.warmup_ratio,  # a float < 1 is a ratio of total steps
        weight_decay=training.weight_decay,
        lr_scheduler_type=training.lr_scheduler,
        packing=training.packing,
        # Unsloth sets up its own (offloaded) checkpointing when it loads the model or adds adapters.
        gradient_checkpointing=training.gradient_checkpointing and backend.name != "unsloth",
        gradient_checkpointing_kwargs={"use_reentrant": False},
        assistant_only_loss=mode is LossMode.ASSISTANT_MASK,
        completion_only_loss=True if mode is LossMode.COMPLETION_ONLY else None,
        eval_strategy="steps",
        eval_steps=training.eval_steps,
        save_strategy="steps",
        save_steps=training.save_steps,
        logging_steps=training.logging_steps,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        save_total_limit=2,  # the best and the latest checkpoint are all that selection and resume need
        seed=training.seed,
        bf16=cuda or (training.cpu_bf16 and cpu_has_bf16()),
        use_cpu=not cuda,  # the Trainer takes CPU bf16 (autocast) only when told it runs on the CPU
        use_liger_kernel=backend.use_liger,
        report_to=trainer_report_to(training.report_to),
        run_name=f"{spec.variant}/{spec.run_id}",
        include_num_input_tokens_seen="non_padding",
        ddp_find_unused_parameters=False,
        disable_tqdm=True,
        dataloader_pin_memory=cuda,
        torch_compile=training.torch_compile and backend.name == "trl",
    )
    if training.attn_implementation == "flex_attention" and settings["packing"]:
        # One packed length for every batch: flex attention's kernels compile once, not per length.
        settings["pad_to_multiple_of"] = settings["max_length"]
    return SFTConfig(**{**settings, **overrides})


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

    training = spec.config.training
    cuda = torch.cuda.is_available()
    mode = choose_loss_mode(tokenizer, training.assistant_only_loss)
    peft_config = _lora_config(training)
    if peft_config is not None and backend.name == "unsloth":
        model, peft_config = _unsloth_peft_model(model, training), None
    if backend.name == "trl" and model.config._attn_implementation != training.attn_implementation:
        model.set_attn_implementation(training.attn_implementation)
    args = sft_config(spec, mode, backend, cuda, sft_overrides or {})
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
    if args.bf16 and peft_config is not None:
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


def train_to_best(trainer: Any, mode: LossMode, folder: TrainingRunFolder, reporter: Reporter) -> TrainedRun:
    """Train (resuming from the folder's last complete checkpoint), reload the checkpoint with the
    lowest validation loss, and save its weights (the adapter for LoRA) and tokenizer into the folder."""
    trainable_params = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    total_params = sum(p.numel() for p in trainer.model.parameters())
    reporter.log(f"trainable parameters {trainable_params:,} of {total_params:,}")
    resume_from = folder.last_complete_checkpoint()
    if resume_from:
        reporter.log(f"resuming from {resume_from}")
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    # The best checkpoint, reloaded at train end, was evaluated when it was saved: evaluate only
    # when no evaluation ran (a run shorter than eval_steps).
    final_eval_loss = trainer.state.best_metric
    if final_eval_loss is None:
        final_eval_loss = float(trainer.evaluate()["eval_loss"])
    trainer.save_model(str(folder.path))
    return TrainedRun(loss_history(trainer.state.log_history), final_eval_loss, resume_from, trainable_params,
                      total_params, mode)  # fmt: skip


def materialization_metadata(manifest: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """The asset materialization metadata reported through Pipes for a completed run."""
    folder = TrainingRunFolder(Path(manifest["output_dir"]))
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
        "loss_curve": metadata_path(folder.loss_curve),
        "manifest": metadata_path(folder.manifest),
    }


def record_run(
    spec: RunSpec, device: RunDevice, run: LoadedRun, surgery: dict[str, Any], trainer: Any, trained: TrainedRun,
    throughput: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """Write what the main process keeps of a finished run: merged/ (LoRA with merge_lora), the loss
    curve, metrics.json and, last, manifest.json; then drop the checkpoints. Returns (manifest, metrics).
    `throughput` is the run's LossStreamCallback (tokens, seconds and throughput of the whole run)."""
    folder, training = spec.folder, spec.config.training
    if training.method == "lora" and training.merge_lora:
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(str(folder.merged))
        run.tokenizer.save_pretrained(str(folder.merged))
    plot_loss_curves(trained.history, folder.loss_curve, f"{spec.variant} ({spec.run_id})")
    best_checkpoint = trainer.state.best_model_checkpoint
    metrics = {
        "history": trained.history,
        "final_train_loss": trained.history["train"][-1]["loss"] if trained.history["train"] else None,
        "best_eval_loss": trainer.state.best_metric,
        "best_step": checkpoint_step(best_checkpoint) if best_checkpoint else None,
        "final_eval_loss": trained.final_eval_loss,
        "global_step": trainer.state.global_step,
        "resumed_from_step": checkpoint_step(trained.resumed_from) if trained.resumed_from else None,
        "tokens_per_second": throughput.tokens_per_second,
        "trained_tokens": throughput.trained_tokens,
        "train_seconds": throughput.train_seconds,
        "trainable_params": trained.trainable_params,
        "total_params": trained.total_params,
        "loss_mode": trained.loss_mode.value,
        "backend": device.backend.name,
        "use_liger": device.backend.use_liger,
        "processes": trainer.accelerator.num_processes,  # GPUs of a multi-GPU launch
        "optimizer": optimizer_name(trainer),
    }
    write_json_atomic(folder.metrics, metrics)
    manifest = _manifest(spec, device, run, surgery, trained, throughput.wall_seconds())
    write_json_atomic(folder.manifest, manifest)
    # Checkpoints only serve resume and best-model selection, both done now; they hold optimizer state.
    for checkpoint in folder.checkpoints():
        shutil.rmtree(checkpoint, ignore_errors=True)
    return manifest, metrics


def _manifest(
    spec: RunSpec,
    device: RunDevice,
    run: LoadedRun,
    surgery: dict[str, Any],
    trained: TrainedRun,
    wall_seconds: float,
) -> dict[str, Any]:
    folder = spec.folder
    weights = folder.weight_files()
    return {
        "variant": spec.variant,
        "run_id": spec.run_id,
        "output_dir": str(folder.path),
        "base_model": spec.base_model,
        "method": spec.config.training.method,
        "config_sha256": training_config_sha256(spec.config),
        "dataset": {
            "version": spec.dataset.version,
            "train": {"path": str(spec.dataset.train), "sha256": file_sha256(spec.dataset.train)},
            "validation": {"path": str(spec.dataset.validation), "sha256": file_sha256(spec.dataset.validation)},
        },
        "weights_sha256": {str(path.relative_to(folder.path)): file_sha256(path) for path in weights},
        "paths": {
            "weights": [str(path.relative_to(folder.path)) for path in weights],
            "merged": MERGED_DIR if folder.merged.is_dir() else None,
            "tokenizer": ".",
            "resolved_config": RESOLVED_CONFIG_FILE,
            "surgery": SURGERY_FILE,
            "metrics": METRICS_FILE,
            "loss_curve": LOSS_CURVE_FILE,
            "layer_scores": LAYER_SCORES_FILE if folder.layer_scores.is_file() else None,
            "tensorboard": TENSORBOARD_DIR if spec.config.training.report_to == "tensorboard" else None,
        },
        "layers": _layer_count(run.model),
        "removed_layers": surgery["removed_layers"],
        "trainable_params": trained.trainable_params,
        "total_params": trained.total_params,
        "device": torch.cuda.get_device_name(0) if device.cuda else "cpu",
        "wall_seconds": wall_seconds,  # resumed segments included
        "completed_at": dt.datetime.now(dt.UTC).isoformat(),
    }


def run_training(spec: RunSpec, reporter: Reporter) -> dict[str, Any]:
    """Train `spec` to completion (or resume it) and return its manifest (a dict; {} on the other
    processes of a multi-GPU launch). A completed run's manifest is returned as is, without loading a model."""
    started = time.perf_counter()
    folder = spec.folder
    completed = folder.read_manifest()
    if completed is not None:
        reporter.log(f"{folder.path} already holds a completed run; nothing to train")
        reporter.report_materialization(materialization_metadata(completed, folder.read_metrics()))
        return completed

    device = prepare_process(spec)  # before any model is loaded: a missing tracker fails here
    folder.path.mkdir(parents=True, exist_ok=True)
    run = load_run(spec, device, reporter)
    surgery = apply_run_surgery(spec, run, reporter)

    from bmw_assets.training.loss_stream import LossStreamCallback

    throughput = LossStreamCallback(reporter, started)
    trainer, mode = build_trainer(spec, run.model, run.tokenizer, device.backend, run.train_rows,
                                  run.validation_rows, callbacks=[throughput])  # fmt: skip
    reporter.log(f"loss on {mode.value}; {len(run.train_rows)} train rows, {len(run.validation_rows)} validation rows")
    trained = train_to_best(trainer, mode, folder, reporter)
    if not trainer.is_world_process_zero():
        return {}
    manifest, metrics = record_run(spec, device, run, surgery, trainer, trained, throughput)
    reporter.log(f"wrote {folder.manifest}")
    reporter.report_materialization(materialization_metadata(manifest, metrics))
    return manifest


def main(argv: list[str] | None = None) -> int:
    """CLI: `--spec run_spec.json`; exit status 0 when the run completed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True, help="run_spec.json: a bmw_assets.run_specs.RunSpec")
    args = parser.parse_args(argv)
    spec = RunSpec.load(args.spec)
    with open_reporter() as reporter:
        run_training(spec, reporter)
    return 0


if __name__ == "__main__":
    sys.exit(main())
