"""GPU training throughput: the project's own training step against plain transformers + PEFT.

Builds a Qwen3-8B-shaped model with random weights (the config is written here; nothing
comes from the Hub) in bf16 on the GPU and times, in one run, batch 1 x `--max-length`
tokens per optimizer step:

* baselines: the plain transformers (+ PEFT LoRA r=16 on all seven projections) step,
  activation checkpointing on, torch AdamW, loss from `model(labels=...)`;
* project cases: the trainer `bmw_assets.training.train.build_trainer` makes for a variant
  under a profile (default `production`; `local` without CUDA), with optional `key=value`
  overrides of the `training:` section, on fixed-length rows or on packed rows of a press-release-like
  length mix. Evaluation and saving are switched off; batch size and gradient accumulation
  are the profile's (production: two packed rows per forward, 8 accumulated, 16 x 4096
  tokens per optimizer step) unless the case sets them.

Each case runs in its own process (fresh GPU memory, no leftover patches). Per step time is
taken with CUDA events between consecutive step ends (data loading and logging included),
after `--warmup` steps, as the median of `--steps` steps.

FLOPs per token (model FLOPs, recomputation not counted), N = decoder-layer weights plus
the LM head, L layers, s tokens, d = heads x head_dim:
  full: 6N + 6 L s d        (forward 2N, backward 4N; causal attention 2 L s d forward, x3)
  LoRA: 4N + 6 N_lora + 6 L s d   (frozen weights need the input gradient only)
MFU is that rate over 790 TFLOP/s (bf16 matrix rate measured on an H200).

A project case with `gpus=N` (N > 1) runs under the launcher the training asset uses
(`accelerate launch`: DDP for LoRA, FSDP2 for full fine-tuning); its tokens are counted over
all GPUs, and its scaling is its rate over the one-GPU case of the same variant, layout and
batch size in the run.

Run on a CUDA host (no network needed):
  python benchmarks/train_throughput.py --tokenizer <folder with a chat-template tokenizer>
A case name is `plain:<lora|full>` or `project:<variant>:<fixed|packed>[:key=value,...]`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bmw_assets.atomic import write_text_atomic  # noqa: E402
from bmw_assets.training.launch import accelerate_launch_prefix  # noqa: E402

RESULT_PATH = ROOT / "benchmarks" / "results" / "train_throughput.json"
PEAK_BF16_TFLOPS = 790.0  # measured 8192^3 bf16 matmul on an H200 (device KINDS.md)
RESULT_PREFIX = "RESULT "

# Qwen3-8B's shape (config.json of Qwen/Qwen3-8B), written out so nothing comes from the Hub.
QWEN3_8B = dict(
    vocab_size=151936,
    hidden_size=4096,
    intermediate_size=12288,
    num_hidden_layers=36,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    max_position_embeddings=40960,
    rope_theta=1_000_000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=False,
    hidden_act="silu",
    attention_bias=False,
    bos_token_id=151643,
    eos_token_id=151645,
)
# A few-million-parameter model of the same kind, for checking the script on a CPU.
TINY = dict(
    QWEN3_8B,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
)

DEFAULT_CASES = [  # ~15 minutes on a fresh two-GPU H200 host: pass --cases to split them
    "plain:lora",
    "plain:full",
    "project:original_lora:packed",  # the production profile on the press-release length mix
    "project:original:packed",
    "project:original_lora:fixed",  # the same on 4096-token rows: what packing keeps
    "project:original:fixed",
    # one packed row per forward, 16 accumulated: the same tokens per optimizer step
    "project:original_lora:packed:per_device_batch_size=1,gradient_accumulation_steps=16",
    "project:original:packed:per_device_batch_size=1,gradient_accumulation_steps=16",
    "project:original_lora:fixed:backend=unsloth,per_device_batch_size=1,gradient_accumulation_steps=16",
    # two GPUs, the same global batch: scaling over the first two project cases
    "project:original_lora:packed:gpus=2,gradient_accumulation_steps=4",
    "project:original:packed:gpus=2,gradient_accumulation_steps=4",
]
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
_WORDS = (
    "the BMW Group announced deliveries electric vehicles plant Munich Dingolfing battery production "
    "model range sales quarter revenue growth sustainability charging network design engine power "
    "range kilometres customers markets Europe China America premium segment MINI Rolls-Royce "
    "motorcycles strategy Neue Klasse platform digital software autonomous driving innovation"
).split()


def model_config(tiny: bool) -> Any:
    """Qwen3Config for the 8B shape (or the tiny CPU check)."""
    from transformers import Qwen3Config

    return Qwen3Config(**(TINY if tiny else QWEN3_8B))


def flops_per_token(cfg: Any, method: str, seq_len: int, lora_r: int = 16) -> float:
    """Model FLOPs per trained token (see the module docstring for the formula)."""
    h, i, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    q = cfg.num_attention_heads * cfg.head_dim
    kv = cfg.num_key_value_heads * cfg.head_dim
    per_layer = h * q + 2 * h * kv + q * h + 3 * h * i
    n_matmul = layers * per_layer + cfg.vocab_size * h
    attention = 6 * layers * seq_len * q
    if method == "full":
        return 6 * n_matmul + attention
    lora_per_layer = lora_r * ((h + q) + 2 * (h + kv) + (q + h) + 2 * (h + i) + (i + h))
    return 4 * n_matmul + 6 * layers * lora_per_layer + attention


def build_random_model(tiny: bool, device: str, seed: int = 0) -> Any:
    """A randomly initialised Qwen3 causal LM in bf16 (fp32 on CPU), built on `device`."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    with torch.device(device):
        return AutoModelForCausalLM.from_config(model_config(tiny), dtype=dtype, attn_implementation="sdpa")


def synthetic_rows(tokens_per_word: float, max_length: int, layout: str, total_tokens: int, seed: int) -> list[dict]:
    """Dataset rows (JSONL shape) of random press-release words.

    `fixed`: every row longer than max_length, so each packed sequence is one truncated row.
    `packed`: lengths drawn from a press-release-like mix (40% qa ~ 250 tokens, 35% instruct
    ~ 600, 25% article chunks ~ 1500, capped at max_length), packed by the trainer.
    """
    rng = random.Random(seed)
    rows: list[dict] = []
    produced = 0
    while produced < total_tokens:
        if layout == "fixed":
            length = int(max_length * 1.1)
        else:
            style, median = rng.choices([("qa", 250), ("instruct", 600), ("article", 1500)], [0.40, 0.35, 0.25])[0]
            length = min(max_length, max(40, int(rng.lognormvariate(math.log(median), 0.5))))
        words = max(8, int(length / tokens_per_word))
        answer = " ".join(rng.choice(_WORDS) for _ in range(words))
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "You answer questions about the BMW Group."},
                    {"role": "user", "content": "Tell me about the latest press release."},
                    {"role": "assistant", "content": answer},
                ],
                "style": "article",
            }
        )
        produced += min(length, max_length)
    return rows


def _memory(torch: Any) -> dict[str, float]:
    if not torch.cuda.is_available():
        return {"peak_allocated_gib": None, "peak_reserved_gib": None}
    return {
        "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2),
    }


class _StepClock:
    """CUDA events (or wall clock on CPU) at each step end, with the tokens seen by then."""

    def __init__(self, torch: Any) -> None:
        self._torch = torch
        self.marks: list[tuple[Any, int]] = []

    def mark(self, tokens_seen: int) -> None:
        if self._torch.cuda.is_available():
            event = self._torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append((event, tokens_seen))
        else:
            self.marks.append((time.perf_counter(), tokens_seen))

    def steps(self) -> list[tuple[float, int]]:
        """(seconds, tokens) of each step after the first mark."""
        if self._torch.cuda.is_available():
            self._torch.cuda.synchronize()
        out = []
        for (start, tokens_a), (end, tokens_b) in zip(self.marks, self.marks[1:], strict=False):
            seconds = start.elapsed_time(end) / 1000 if hasattr(start, "elapsed_time") else end - start
            out.append((seconds, tokens_b - tokens_a))
        return out


def _summary(steps: list[tuple[float, int]], warmup: int, losses: list[float], extra: dict) -> dict:
    timed = steps[max(0, warmup - 1) :]  # marks start at step 1's end: step 2 is the first interval
    seconds = statistics.median(s for s, _ in timed)
    tokens = statistics.median(t for _, t in timed)
    return {
        **extra,
        "timed_steps": len(timed),
        "median_step_s": round(seconds, 4),
        "tokens_per_step": tokens,
        "tokens_per_s": round(tokens / seconds, 1),
        "losses": [round(x, 4) for x in losses],
    }


def run_plain(method: str, args: argparse.Namespace) -> dict:
    """The plain transformers (+ PEFT) step with activation checkpointing, on `--max-length`
    tokens of the same synthetic text the project cases see."""
    import torch
    from transformers import AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    rows = synthetic_rows(
        args.tokens_per_word, args.max_length, "fixed", args.max_length * (args.warmup + args.steps + 1), 0
    )
    batches = [
        tokenizer.apply_chat_template(row["messages"], tokenize=True, return_tensors="pt", return_dict=True)[
            "input_ids"
        ][:, : args.max_length]
        for row in rows
    ]
    model = build_random_model(args.tiny, device)
    model.config.use_cache = False
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model, LoraConfig(r=16, lora_alpha=16, lora_dropout=0.0, target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
        )
        model.enable_input_require_grads()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    lr = 2.0e-4 if method == "lora" else 1.0e-5
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    clock, losses, seen = _StepClock(torch), [], 0
    for step in range(args.warmup + args.steps):
        input_ids = batches[step % len(batches)].to(device)
        loss = model(input_ids=input_ids, labels=input_ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seen += input_ids.numel()
        clock.mark(seen)
        losses.append(loss.detach())
    losses = [float(x) for x in losses]
    return _summary(
        clock.steps(),
        args.warmup,
        losses,
        {
            "gradient_checkpointing": True,
            "optimizer": "torch AdamW (foreach)",
            "liger": False,
            "backend": "plain",
            **_memory(torch),
        },
    )


def parse_overrides(text: str) -> dict[str, Any]:
    """`key=value,...` as a dict, each value read as JSON where it parses (numbers, booleans)."""
    overrides = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def _random_model_dir(args: argparse.Namespace) -> str:
    """A folder with the random model saved as safetensors plus the tokenizer, for backends
    that load from disk (Unsloth); written once per host."""
    import shutil

    import torch

    folder = Path(args.model_dir)
    if not (folder / "config.json").is_file():
        model = build_random_model(args.tiny, "cuda" if torch.cuda.is_available() else "cpu")
        staging = folder.with_name(folder.name + ".partial")
        model.save_pretrained(staging, max_shard_size="5GB")
        for name in os.listdir(args.tokenizer):
            if name.startswith(("tokenizer", "special_tokens", "chat_template", "vocab", "merges")):
                shutil.copy(Path(args.tokenizer) / name, staging / name)
        staging.rename(folder)
        del model
        torch.cuda.empty_cache()
    return str(folder)


def run_project(variant: str, layout: str, overrides: dict[str, Any], args: argparse.Namespace) -> dict:
    """The project's trainer for `variant` under `--profile`, with `overrides` of `training:`."""
    import torch

    from bmw_assets.models.config import VariantConfig, load_variant_config
    from bmw_assets.run_specs import RunSpec, TrainingData
    from bmw_assets.training.backend import import_backend_first, resolve_backend

    config = load_variant_config(variant, args.profile).model_dump(mode="json")
    # Benchmark-only switch: PEFT's own cast of each LoRA input to the adapters' fp32, as before.
    keep_peft_input_cast = bool(overrides.pop("keep_peft_input_cast", False))
    gpus = int(overrides.pop("gpus", 1))
    overrides.pop("reshard_after_forward", None)  # a launcher setting, read by case_command
    config["training"].update(overrides)
    training = config["training"]
    training["max_length"] = args.max_length
    cuda = torch.cuda.is_available()
    if not cuda and training["attn_implementation"] == "flex_attention":
        raise ValueError(
            f"profile {args.profile!r} trains with flex_attention, which has no backward on a CPU: "
            "run the CPU check with --profile local (or attn_implementation=sdpa in the case)"
        )
    device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if cuda else "cpu"
    backend = resolve_backend(
        training["backend"], training["liger"], cuda, method=training["method"], packing=training["packing"]
    )
    import_backend_first(backend)
    from transformers import AutoTokenizer, TrainerCallback

    from bmw_assets.training.train import build_trainer, load_model, optimizer_name

    work = Path(args.work_dir) / f"{variant}-{layout}"
    spec = RunSpec(run_id="bench", config=VariantConfig.model_validate(config), base_model=args.tokenizer,
                   dataset=TrainingData(version="synthetic", train=work / "train.jsonl",
                                        validation=work / "validation.jsonl"), output_dir=work)  # fmt: skip
    if backend.name == "unsloth":
        spec = spec.model_copy(update={"base_model": _random_model_dir(args)})
        model, tokenizer = load_model(spec, backend, torch.bfloat16)
    else:
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
        model = build_random_model(args.tiny, device)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    accumulation = int(training["gradient_accumulation_steps"])
    batches_per_step = accumulation * int(training["per_device_batch_size"]) * gpus
    total = args.max_length * (args.warmup + args.steps + (args.profile_steps or 0) + 2) * batches_per_step
    rows = synthetic_rows(args.tokens_per_word, args.max_length, layout, int(total * 1.15), 1)
    clock = _StepClock(torch)
    losses: list[float] = []

    class Timing(TrainerCallback):
        def on_step_end(self, targs, state, control, **kwargs):
            clock.mark(state.num_input_tokens_seen)

        def on_log(self, targs, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    profiled: dict[str, Any] = {}

    class Profile(TrainerCallback):
        """torch.profiler over `--profile-steps` steps right after warm-up: where the GPU time goes."""

        def on_step_end(self, targs, state, control, **kwargs):
            if state.global_step == args.warmup and args.profile_steps:
                activity = torch.profiler.ProfilerActivity.CUDA if cuda else torch.profiler.ProfilerActivity.CPU
                profiled["profiler"] = torch.profiler.profile(activities=[activity])
                profiled["profiler"].__enter__()
            elif state.global_step == args.warmup + args.profile_steps and "profiler" in profiled:
                profiler = profiled.pop("profiler")
                profiler.__exit__(None, None, None)
                profiled["top"] = _top_kernels(profiler, args.profile_steps, "device" if cuda else "cpu")

    steps = args.warmup + args.steps + (args.profile_steps or 0)
    trainer, mode = build_trainer(
        spec,
        model,
        tokenizer,
        backend,
        rows,
        rows[:2],
        callbacks=[Timing(), Profile()],
        sft_overrides={
            "max_steps": steps,
            "gradient_accumulation_steps": accumulation,
            "eval_strategy": "no",
            "save_strategy": "no",
            "load_best_model_at_end": False,
            "logging_steps": 1,
            "report_to": [],
            "output_dir": str(work),
            "include_num_input_tokens_seen": "all",
        },
    )
    if trainer.accelerator.num_processes != gpus:
        raise RuntimeError(f"case asks for {gpus} GPU(s) but trains in {trainer.accelerator.num_processes} process(es)")
    if keep_peft_input_cast:
        for module in trainer.model.modules():
            if hasattr(module, "cast_input_dtype_enabled"):
                module.cast_input_dtype_enabled = True
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    warmup = args.warmup
    if profiled.get("top"):  # profiled steps are slower: timing starts at the end of the last one
        clock.marks, warmup = clock.marks[args.warmup + args.profile_steps - 1 :], 1
    return _summary(
        clock.steps(),
        warmup,
        losses,
        {
            "profile_top_kernels": profiled.get("top"),
            "gpus": gpus,
            "processes": trainer.accelerator.num_processes,
            "distributed_type": str(trainer.accelerator.distributed_type),
            "per_device_batch_size": training["per_device_batch_size"],
            "gradient_checkpointing": training["gradient_checkpointing"],
            "backend": backend.name,
            "liger": backend.use_liger,
            "packing": training["packing"],
            "loss_mode": mode.value,
            "optimizer": optimizer_name(trainer),
            "attn_implementation": trainer.model.config._attn_implementation,
            **_memory(torch),
        },
    )


def _top_kernels(profiler: Any, steps: int, clock: str, rows: int = 25) -> list[dict]:
    """The kernels (ops on a CPU) with the most self time per step (ms) on `clock` ("device" or
    "cpu"), their share of all such time and their calls per step."""

    def self_us(event: Any) -> float:
        return getattr(event, f"self_{clock}_time_total")

    events = [e for e in profiler.key_averages() if self_us(e) > 0]
    total = sum(self_us(e) for e in events) or 1.0
    ranked = sorted(events, key=self_us, reverse=True)[:rows]
    return [
        {
            "kernel": e.key[:90],
            "ms_per_step": round(self_us(e) / 1000 / steps, 2),
            "share": round(self_us(e) / total, 4),
            "calls_per_step": e.count // steps,
        }
        for e in ranked
    ]


def parse_case(name: str) -> tuple[str, str, str, dict[str, Any], str]:
    """(kind, variant, layout, overrides, method) of a case name; variant and layout are
    empty for the plain baselines."""
    parts = name.split(":")
    if parts[0] == "plain" and len(parts) == 2 and parts[1] in ("lora", "full"):
        return "plain", "", "", {}, parts[1]
    if parts[0] == "project" and len(parts) in (3, 4):
        variant, layout = parts[1], parts[2]
        overrides = parse_overrides(parts[3] if len(parts) > 3 else "")
        method = overrides.get("method") or ("lora" if variant.endswith("_lora") else "full")
        return "project", variant, layout, overrides, method
    raise ValueError(f"case {name!r}: expected 'plain:<lora|full>' or 'project:<variant>:<fixed|packed>[:k=v,...]'")


def run_case(name: str, args: argparse.Namespace) -> dict:
    """One case in this process (one rank of it under a multi-GPU launch); its result dict."""
    import torch

    kind, variant, layout, overrides, method = parse_case(name)
    started = time.perf_counter()
    if kind == "plain":
        result = run_plain(method, args)
    else:
        result = run_project(variant, layout, overrides, args)
    cfg = model_config(args.tiny)
    tflops = flops_per_token(cfg, method, args.max_length) * result["tokens_per_s"] / 1e12
    gpus = result.get("gpus", 1)
    return {
        "case": name,
        "method": method,
        **result,
        "model_tflops": round(tflops, 1),
        "mfu": round(tflops / (PEAK_BF16_TFLOPS * gpus), 4),
        "case_wall_s": round(time.perf_counter() - started, 1),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
    }


def case_env(name: str) -> dict[str, str]:
    """The environment of a case's child: a one-GPU case sees only the first visible GPU (with
    several visible, the Trainer would wrap the model in DataParallel)."""
    env = dict(os.environ)
    if int(parse_case(name)[3].get("gpus", 1)) == 1:
        env["CUDA_VISIBLE_DEVICES"] = env.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]
    return env


def case_command(name: str, argv: list[str]) -> list[str]:
    """The argv that runs case `name` in a child: this script with `--run-case`, under the
    training asset's own multi-GPU launcher when the case sets gpus=N > 1 (FSDP's
    reshard_after_forward from the case where it sets one, else the launcher's default)."""
    _, _, _, overrides, method = parse_case(name)
    gpus = int(overrides.get("gpus", 1))
    launcher = (
        {"reshard_after_forward": bool(overrides["reshard_after_forward"])}
        if "reshard_after_forward" in overrides
        else {}
    )
    prefix = accelerate_launch_prefix(gpus, method == "full", **launcher) if gpus > 1 else [sys.executable]
    return [*prefix, __file__, "--run-case", name, *argv]


def _table(results: list[dict]) -> str:
    header = f"{'case':58} {'tok/s':>8} {'TFLOP/s':>8} {'MFU':>6} {'peak GiB':>9} {'first/last loss':>16}"
    lines = [header, "-" * len(header)]
    for r in results:
        if "error" in r:
            lines.append(f"{r['case']:58} FAILED: {r['error'][:60]}")
            continue
        loss = f"{r['losses'][0]:.3f}/{r['losses'][-1]:.3f}" if r["losses"] else "-"
        peak = r["peak_allocated_gib"]
        lines.append(
            f"{r['case']:58} {r['tokens_per_s']:8.0f} {r['model_tflops']:8.1f} {r['mfu']:6.1%} "
            f"{(peak if peak is not None else float('nan')):9.1f} {loss:>16}"
        )
    return "\n".join(lines)


def _speedups(results: list[dict]) -> dict[str, float]:
    """Each one-GPU project case's tokens/s over the plain baseline of its method in this run."""
    base = {r["method"]: r["tokens_per_s"] for r in results if r["case"].startswith("plain:") and "error" not in r}
    return {
        r["case"]: round(r["tokens_per_s"] / base[r["method"]], 3)
        for r in results
        if r["case"].startswith("project:") and "error" not in r and r["method"] in base and r.get("gpus", 1) == 1
    }


def _scaling_key(name: str) -> tuple:
    """What a multi-GPU case and its one-GPU reference share: variant, layout and every
    override but the GPU count, the accumulation (which sets only the global batch) and
    the launcher's FSDP setting."""
    _, variant, layout, overrides, _ = parse_case(name)
    launch_only = ("gpus", "gradient_accumulation_steps", "reshard_after_forward")
    rest = {k: v for k, v in overrides.items() if k not in launch_only}
    return variant, layout, tuple(sorted(rest.items()))


def _scaling(results: list[dict]) -> dict[str, float]:
    """Each multi-GPU case's tokens/s over the one-GPU case with the same `_scaling_key` in this run."""
    ok = [r for r in results if r["case"].startswith("project:") and "error" not in r]
    single = {_scaling_key(r["case"]): r["tokens_per_s"] for r in ok if r.get("gpus", 1) == 1}
    return {
        r["case"]: round(r["tokens_per_s"] / single[_scaling_key(r["case"])], 3)
        for r in ok
        if r.get("gpus", 1) > 1 and _scaling_key(r["case"]) in single
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=";".join(DEFAULT_CASES), help="';'-separated case names")
    parser.add_argument("--run-case", help="run one case in this process and print its result line")
    parser.add_argument("--tokenizer", help="folder with a chat-template tokenizer (default: the packaged SmolLM2's)")
    parser.add_argument(
        "--profile",
        help="configs profile of the project cases (default: production on a CUDA "
        "host, local elsewhere: production's flex attention has no backward on a CPU)",
    )
    parser.add_argument("--max-length", type=int, default=4096)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--tokens-per-word", type=float, default=1.3, help="tokens the tokenizer makes of one word")
    parser.add_argument("--tiny", action="store_true", help="a few-million-parameter model (CPU check of the script)")
    parser.add_argument("--work-dir", default="/tmp/train_throughput")
    parser.add_argument("--model-dir", default="/tmp/train_throughput/qwen3-8b-random")
    parser.add_argument(
        "--profile-steps", type=int, default=0, help="profile this many steps after warm-up (not timed)"
    )
    parser.add_argument("--case-timeout", type=int, default=240, help="seconds one case may take")
    parser.add_argument("--out", type=Path, default=RESULT_PATH)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.profile is None:
        args.profile = "production" if _visible_gpus() else "local"
    if args.tokenizer is None:
        from bmw_assets.models.base_model import PACKAGED_MODEL, ensure_base_model

        args.tokenizer = ensure_base_model(PACKAGED_MODEL, Path(args.work_dir) / "base_model")
    if args.run_case:
        result = run_case(args.run_case, args)
        if int(os.environ.get("RANK", "0")) == 0:  # rank 0 speaks for a multi-GPU case
            print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0

    results: list[dict] = []
    passthrough = [a for a in (argv if argv is not None else sys.argv[1:])]
    passthrough = _without(passthrough, "--cases")
    visible_gpus = _visible_gpus()
    for case in filter(None, args.cases.split(";")):
        command = case_command(case, ["--tokenizer", args.tokenizer, *passthrough])
        print(f"== {case}", flush=True)
        needed = int(parse_case(case)[3].get("gpus", 1))
        if needed > max(visible_gpus, 1):
            print(f"skipped: needs {needed} GPUs, {visible_gpus} visible", flush=True)
            continue
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=args.case_timeout, env=case_env(case)
            )
            lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
            if done.returncode != 0 or not lines:
                failure = RuntimeError(
                    f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:] or done.stdout[-300:]}"
                )
                failure.stderr = done.stderr
                raise failure
            result = json.loads(lines[-1][len(RESULT_PREFIX) :])
            sys.stderr.write(done.stderr[-1500:])
        except (subprocess.TimeoutExpired, RuntimeError) as error:
            stderr = getattr(error, "stderr", None) or ""
            result = {
                "case": case,
                "error": str(error)[:2000],
                "stderr_tail": (stderr if isinstance(stderr, str) else "")[-4000:],
            }
            print(str(error)[-2000:], stderr[-2000:] if isinstance(stderr, str) else "", file=sys.stderr)
        print(json.dumps(result), flush=True)
        results.append(result)
        payload = {
            "max_length": args.max_length,
            "warmup": args.warmup,
            "steps": args.steps,
            "tiny": args.tiny,
            "peak_bf16_tflops": PEAK_BF16_TFLOPS,
            "results": results,
            "speedup_vs_plain": _speedups(results),
            "scaling_vs_one_gpu": _scaling(results),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.out, json.dumps(payload, indent=2) + "\n")
    print(_table(results))
    for case, ratio in _speedups(results).items():
        print(f"speedup {case}: {ratio:.2f}x plain")
    for case, ratio in _scaling(results).items():
        print(f"scaling {case}: {ratio:.2f}x one GPU")
    return 0


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count()


def _without(argv: list[str], flag: str) -> list[str]:
    """argv less `flag` and its value (both `--flag v` and `--flag=v`)."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == flag:
            skip = True
        elif not item.startswith(flag + "="):
            out.append(item)
    return out


if __name__ == "__main__":
    sys.exit(main())
