"""Does a GPU host set up from the offline bundle train? LoRA and QLoRA through the entry point.

    python benchmarks/gpu_smoke.py --tokenizer .gpu-bundle/tokenizer [--steps 6]

On a host prepared as docs/deploy.md says (requirements/gpu.txt installed from the bundle, the
project on PYTHONPATH), builds a tiny randomly initialised Llama with the bundle's tokenizer and
a few `qa` rows, and trains `original_lora`'s local settings twice through
`python -m bmw_assets.training.train --spec`: bf16 LoRA, and QLoRA (training.quantization: 4bit,
bitsandbytes NF4). Each case passes when the process exits 0 and writes metrics.json with a
finite loss. Prints a table and writes benchmarks/results/gpu_smoke.json. The weights are random:
this checks the code path and the packages, not what the model learns.
"""

import argparse
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from bmw_assets.models.config import VariantConfig, load_variant_config
from bmw_assets.run_specs import RunSpec, TrainingData

RESULTS = Path(__file__).parent / "results" / "gpu_smoke.json"
SYSTEM = "You are a helpful assistant who knows the press releases of the BMW Group."


def tiny_llama(tokenizer_dir: Path, target: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=256, intermediate_size=512, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(target)
    tokenizer.save_pretrained(target)


def qa_rows(count: int) -> str:
    rows = []
    for number in range(count):
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"How many guests attended event {number}?"},
            {"role": "assistant", "content": f"Around {1000 + 37 * number} guests attended event {number}."},
        ]
        rows.append({"messages": messages, "style": "qa", "article_id": f"T{number:07d}EN", "chunk": 0, "tokens": 60})
    return "".join(json.dumps(row) + "\n" for row in rows)


def train(case: str, quantization: str, model_dir: Path, data: Path, steps: int) -> dict:
    config = load_variant_config("original_lora", "local").model_dump(mode="json")
    config["training"] |= {"quantization": quantization, "max_steps": steps, "eval_steps": steps, "save_steps": steps,
                           "report_to": "none", "logging_steps": 1}  # fmt: skip
    output_dir = data / case
    spec = RunSpec(
        run_id=case, config=VariantConfig.model_validate(config), base_model=str(model_dir),
        dataset=TrainingData(version="smoke", train=data / "train.jsonl", validation=data / "validation.jsonl"),
        output_dir=output_dir,
    )  # fmt: skip
    spec_path = data / f"{case}.json"
    spec_path.write_text(spec.model_dump_json())
    started = time.perf_counter()
    process = subprocess.run([sys.executable, "-m", "bmw_assets.training.train", "--spec", str(spec_path)],
                             capture_output=True, text=True)  # fmt: skip
    metrics_path = output_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    loss = metrics.get("final_train_loss")
    return {
        "case": case,
        "quantization": quantization,
        "returncode": process.returncode,
        "seconds": round(time.perf_counter() - started, 1),
        "final_train_loss": loss,
        "global_step": metrics.get("global_step"),
        "passed": process.returncode == 0 and loss is not None and math.isfinite(loss),
        "output_tail": (process.stdout + process.stderr)[-1500:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, required=True, help="the bundle's tokenizer folder")
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gpu-smoke-"))
    tiny_llama(args.tokenizer, work / "model")
    (work / "train.jsonl").write_text(qa_rows(48))
    (work / "validation.jsonl").write_text(qa_rows(8))
    cases = [train("lora_bf16", "none", work / "model", work, args.steps),
             train("qlora_nf4", "4bit", work / "model", work, args.steps)]  # fmt: skip
    print(f"{'case':<12} {'passed':>7} {'rc':>4} {'steps':>6} {'loss':>8} {'seconds':>8}")
    for case in cases:
        loss = "-" if case["final_train_loss"] is None else f"{case['final_train_loss']:.3f}"
        print(f"{case['case']:<12} {case['passed']!s:>7} {case['returncode']:>4} {case['global_step']!s:>6} "
              f"{loss:>8} {case['seconds']:>8}")  # fmt: skip
        if not case["passed"]:
            print(case["output_tail"])
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    versions = {}
    for name in ("torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = None
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"cases": cases, "device": device, "python": platform.python_version(),
                                   "versions": versions}, indent=2) + "\n")  # fmt: skip
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
