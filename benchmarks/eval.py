"""Evaluation throughput on SmolLM2 (CPU), against naive baselines in the same run:

1. perplexity: batched sliding windows (`token_perplexity`, batch_size windows per
   forward) vs a loop that runs one window per forward (batch_size=1);
2. sampling: N answers in one `generate` call (`num_return_sequences`) vs N calls of
   one sample each.

Prints a table and writes benchmarks/results/eval.json.
Usage: python benchmarks/eval.py [--model-dir DIR] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from bmw_assets.atomic import write_json_atomic  # noqa: E402
from bmw_assets.evaluation.general_text import general_documents  # noqa: E402
from bmw_assets.evaluation.generation import (  # noqa: E402
    chat_prompt_ids,
    sample_answers,
)
from bmw_assets.evaluation.perplexity import token_perplexity  # noqa: E402
from bmw_assets.models.base_model import PACKAGED_MODEL, ensure_base_model  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "eval.json"


def _timed(function):
    started = time.perf_counter()
    value = function()
    return value, time.perf_counter() - started


def bench_perplexity(model, tokenizer, max_length: int, stride: int, batch_size: int, tokens: int) -> dict:
    documents = [tokenizer("\n".join(general_documents(tokens * 8)))["input_ids"][:tokens]]
    runs = {}
    for name, size in (("one window per forward", 1), (f"batched ({batch_size} windows)", batch_size)):
        result, seconds = _timed(
            lambda size=size: token_perplexity(model, documents, max_length=max_length, stride=stride, batch_size=size)
        )
        runs[name] = {
            "seconds": seconds,
            "scored_tokens": result.tokens,
            "tokens_per_s": result.tokens / seconds,
            "perplexity": result.perplexity,
        }
    return runs


def bench_sampling(model, tokenizer, samples: int, max_new_tokens: int) -> dict:
    prompt = chat_prompt_ids(tokenizer, "What did the BMW Group announce about electric vehicle deliveries?")

    def one_call():
        return sample_answers(model, tokenizer, prompt, n=samples, temperature=1.0, max_new_tokens=max_new_tokens)

    def one_per_call():
        return [
            sample_answers(model, tokenizer, prompt, n=1, temperature=1.0, max_new_tokens=max_new_tokens)
            for _ in range(samples)
        ]

    runs = {}
    torch.manual_seed(0)
    batched, seconds = _timed(one_call)
    generated = sum(len(ids) for ids in batched.token_ids)
    runs[f"num_return_sequences={samples}"] = {
        "seconds": seconds,
        "generated_tokens": generated,
        "tokens_per_s": generated / seconds,
    }
    torch.manual_seed(0)
    singles, seconds = _timed(one_per_call)
    generated = sum(len(ids) for s in singles for ids in s.token_ids)
    runs[f"{samples} calls of 1 sample"] = {
        "seconds": seconds,
        "generated_tokens": generated,
        "tokens_per_s": generated / seconds,
    }
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", help="SmolLM2 folder (default: dequantize the packaged one into a temp cache)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--max-length", type=int, default=256, help="perplexity window, tokens")
    parser.add_argument("--stride", type=int, default=128, help="perplexity stride, tokens")
    parser.add_argument("--batch-size", type=int, default=4, help="windows per forward in the batched run")
    parser.add_argument("--tokens", type=int, default=1536, help="tokens of text scored")
    parser.add_argument("--samples", type=int, default=5, help="answers sampled per question")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model_dir = args.model_dir or ensure_base_model(PACKAGED_MODEL, Path(tempfile.gettempdir()) / "bmw-bench-models")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, use_safetensors=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)

    perplexity = bench_perplexity(model, tokenizer, args.max_length, args.stride, args.batch_size, args.tokens)
    sampling = bench_sampling(model, tokenizer, args.samples, args.max_new_tokens)

    print(f"{'benchmark':<12} {'mode':<30} {'seconds':>8} {'tokens':>7} {'tokens/s':>9}")
    for section, runs in (("perplexity", perplexity), ("sampling", sampling)):
        for mode, run in runs.items():
            count = run.get("scored_tokens", run.get("generated_tokens"))
            print(f"{section:<12} {mode:<30} {run['seconds']:>8.2f} {count:>7} {run['tokens_per_s']:>9.1f}")
    first, second = list(perplexity.values())
    speedups = {
        "perplexity_batched_vs_one_window": second["tokens_per_s"] / first["tokens_per_s"],
        "sampling_one_call_vs_one_per_call": list(sampling.values())[0]["tokens_per_s"]
        / list(sampling.values())[1]["tokens_per_s"],
    }
    print("speed-ups: " + ", ".join(f"{k} {v:.2f}x" for k, v in speedups.items()))
    write_json_atomic(
        RESULTS,
        {
            "model": "SmolLM2-135M-Instruct",
            "device": "cpu",
            "threads": args.threads,
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "settings": vars(args) | {"model_dir": str(model_dir)},
            "perplexity": perplexity,
            "sampling": sampling,
            "speedups": speedups,
        },
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
