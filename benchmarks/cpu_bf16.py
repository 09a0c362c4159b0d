"""bf16 against fp32 on this CPU, for the local profile's `cpu_bf16` switch.

    python benchmarks/cpu_bf16.py [--model DIR] [--repeats N]

Times, on one torch thread as the demo's processes run, a training step of the packaged
SmolLM2-135M (forward and backward over 2 x 256 tokens: fp32, and bf16 autocast over fp32
weights as the Trainer does) and the evaluation's work (a perplexity forward over 8 x 256
tokens and greedy decoding of 8 x 24 tokens: fp32 weights against bf16 weights). The cases
alternate, so a noisy machine slows both alike; the median of the repeats is reported, and
the speed-up against fp32 in the same run. Writes benchmarks/results/cpu_bf16.json.
"""

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from bmw_assets.models.base_model import PACKAGED_MODEL, ensure_base_model
from bmw_assets.models.loading import cpu_has_bf16

RESULTS = Path(__file__).parent / "results" / "cpu_bf16.json"


def seconds(work, *args, **kwargs) -> float:
    started = time.perf_counter()
    work(*args, **kwargs)
    return time.perf_counter() - started


def training_step(model, ids: torch.Tensor, bf16: bool) -> None:
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    model.zero_grad(set_to_none=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the packaged SmolLM2)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cache = Path(os.environ.get("BMW_STORAGE", "storage")) / "cache" / "base_models"
    folder = args.model or ensure_base_model(PACKAGED_MODEL, cache)
    step_ids = torch.randint(0, 40000, (2, 256))
    window_ids = torch.randint(0, 40000, (8, 256))
    prompt_ids = torch.randint(0, 40000, (8, 40))
    models = {
        dtype: AutoModelForCausalLM.from_pretrained(folder, dtype=dtype) for dtype in (torch.float32, torch.bfloat16)
    }
    trainable = models[torch.float32]  # dropout is 0: train and eval mode compute the same
    times: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for label, bf16 in (("fp32", False), ("bf16", True)):
            case = {"training step 2x256": seconds(training_step, trainable, step_ids, bf16)}
            model = models[torch.bfloat16 if bf16 else torch.float32]
            with torch.inference_mode():
                case |= {
                    "perplexity forward 8x256": seconds(model, input_ids=window_ids),
                    "greedy decoding 8x24": seconds(
                        model.generate, prompt_ids, max_new_tokens=24, min_new_tokens=24, do_sample=False,
                        pad_token_id=0,
                    ),
                }  # fmt: skip
            for name, value in case.items():
                times.setdefault(f"{name} ({label})", []).append(value)
    medians = {case: statistics.median(values) for case, values in times.items()}
    print(f"{'case':<36} {'median s':>9} {'vs fp32':>8}")
    for case, median in medians.items():
        baseline = medians[case.replace("(bf16)", "(fp32)")]
        print(f"{case:<36} {median:>9.2f} {baseline / median:>7.2f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "median_seconds": medians,
                "all_seconds": times,
                "cpu_has_bf16": cpu_has_bf16(),
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "threads": 1},
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
