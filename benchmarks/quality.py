"""The quality run: does the platform turn press releases into a model that knows them?

Three phases, one script:

    python benchmarks/quality.py prepare --storage DIR --articles 1100 --bundle .quality
        CPU, through the normal assets: a replica of N articles on loopback, then
        article_index -> raw_pdfs -> regex_text -> llm_text -> chatml_dataset -> base_model
        (local profile). Writes the bundle the GPU host needs: the dataset splits, the fact
        questions, the held-out texts, the general-English text and the base model's GGUF
        (split in parts that fit one device carry).

    python benchmarks/quality.py run --bundle .quality --work /tmp/q --out DIR --stage sweep|train|evaluate
        GPU host: builds the base model from the bundle, then trains and evaluates through the
        same entry points `trained_model` and `eval_report` launch
        (`python -m bmw_assets.training.train --spec`, `python -m bmw_assets.evaluation.run
        --spec`) with the `gpu-quality` profile's configs; several processes share the GPU.
        Writes quality.json (every number) into --out.

    python benchmarks/quality.py report
        Turns benchmarks/results/quality.json into the tables of docs/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # a GPU host runs it from a copy of the repository, not an installed package
    sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "quality.json"
PROFILE = "gpu-quality"
VARIANTS = ("original", "original_lora", "dropped", "dropped_lora", "pruned", "pruned_lora")
GGUF_PART_BYTES = 48 * 1024 * 1024  # one part per device carry (64 MiB with the code)


# ---------------------------------------------------------------- prepare (CPU)


def prepare(
    storage: Path, articles: int, root: Path, fact_questions: int, local_storage: Path | None
) -> dict[str, Any]:
    """Build the dataset of an `articles`-article replica through the data assets and write what the
    GPU host needs under `root`: data.tar.xz (dataset, facts, held-out and general text), gguf/ (the
    base model in parts) and minilm/ (the judge and retrieval encoder in fp16). With `local_storage`
    (a `make demo` storage root), its dataset and facts go along for the local-profile sweep."""
    os.environ.update({"BMW_STORAGE": str(storage), "BMW_PROFILE": "local", "BMW_REPLICA_SIZE": str(articles)})
    import dagster as dg

    from bmw_assets.definitions import build_definitions
    from bmw_assets.defs.resources import ModelConfigsResource
    from bmw_assets.evaluation.general_text import write_general_text
    from bmw_assets.evaluation.judges import packaged_minilm_path
    from bmw_assets.hashing import sha256_file
    from bmw_assets.models.base_model import packaged_gguf_path
    from bmw_assets.replica.server import ReplicaServer
    from bmw_assets.settings import load_settings
    from bmw_assets.stages.evaluation import write_facts_file, write_heldout_texts

    started = time.monotonic()
    with ReplicaServer(port=0, published=articles, size=articles) as replica:
        os.environ["BMW_PRESSCLUB_URL"] = replica.base_url
        settings = load_settings()
        defs = build_definitions(settings)
        # The replica, the filter endpoint and the facts of the local profile; rows sized and styled
        # for the gpu-quality configs (2048 tokens) instead of the CPU demo's.
        resources = dict(defs.resources or {}) | {"model_configs": ModelConfigsResource(profile=PROFILE)}
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                list(defs.assets or []),
                selection=["article_index", "raw_pdfs", "regex_text", "llm_text", "chatml_dataset"],
                resources=resources,
                instance=instance,
                run_config={"ops": {"article_index": {"config": {"target": articles}}}},
            )
            dataset = result.output_for_node("chatml_dataset")
    layout = settings.storage
    dataset_dir = Path(dataset["path"])
    if root.exists():
        shutil.rmtree(root)
    bundle = root / "bundle"
    (bundle / "dataset").mkdir(parents=True)
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl", "manifest.json"):
        shutil.copy(dataset_dir / name, bundle / "dataset" / name)
    facts = defs.resources["facts"].facts()
    questions = write_facts_file(layout.catalog_path, dataset["version"], facts, bundle / "facts.jsonl", fact_questions,
                                 dataset_dir)  # fmt: skip
    heldout_tokens = write_heldout_texts(dataset_dir, bundle / "heldout.jsonl", None)
    general = write_general_text(bundle / "general_text.jsonl")
    if local_storage is not None:
        _local_bundle(local_storage, bundle / "local")
    gguf = packaged_gguf_path()
    parts = _split_file(gguf, root / "gguf", GGUF_PART_BYTES)
    _fp16_copy(packaged_minilm_path(), root / "minilm")
    info = {
        "articles": articles,
        "dataset_version": dataset["version"],
        "dataset_rows": json.loads((dataset_dir / "manifest.json").read_text())["rows"],
        "fact_questions": questions,
        "heldout_tokens": heldout_tokens,
        "general_text": general,
        "gguf": {"name": gguf.name, "sha256": sha256_file(gguf), "parts": parts},
        "prepare_seconds": round(time.monotonic() - started, 1),
    }
    (bundle / "bundle.json").write_text(json.dumps(info, indent=2) + "\n")
    subprocess.run(["tar", "cJf", str(root / "data.tar.xz"), "-C", str(bundle), "."], check=True)
    return info


def _local_bundle(local_storage: Path, target: Path) -> None:
    """The newest dataset of a local-profile storage root and its facts (24 per split, as the demo asks)."""
    import duckdb

    from bmw_assets.defs.resources import ReplicaFactsResource
    from bmw_assets.stages.evaluation import write_facts_file, write_heldout_texts

    with duckdb.connect(str(local_storage / "catalog.duckdb"), read_only=True) as con:
        version, path = con.execute(
            "SELECT version, path FROM dataset_versions ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
    shutil.copytree(path, target / "dataset")
    facts = ReplicaFactsResource().facts()
    write_facts_file(local_storage / "catalog.duckdb", version, facts, target / "facts.jsonl", 24, target / "dataset")
    write_heldout_texts(target / "dataset", target / "heldout.jsonl", 3000)


def _fp16_copy(model_dir: Path, target: Path) -> None:
    """A sentence-transformers folder with its weights in fp16 (half the bytes to carry)."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(model_dir, target, ignore=shutil.ignore_patterns("*.safetensors", "onnx", "openvino", "*.bin"))
    for weights in Path(model_dir).rglob("*.safetensors"):
        tensors = {name: t.half() if t.is_floating_point() else t for name, t in load_file(weights).items()}
        save_file(tensors, str(target / weights.relative_to(model_dir)))


def _split_file(path: Path, folder: Path, part_bytes: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    with open(path, "rb") as handle:
        for number, block in enumerate(iter(lambda: handle.read(part_bytes), b"")):
            name = f"part{number}"
            (folder / name).write_bytes(block)
            names.append(name)
    return names


# ---------------------------------------------------------------- run (GPU host)

# The sweep, on the validation split: (name, variant, training overrides). Its winners are the
# final `original` and `original_lora`; the other variants train with their method's winner.
SWEEP = (
    ("original@lr2e-5", "original", {"learning_rate": 2.0e-5}),
    ("original@lr5e-5", "original", {"learning_rate": 5.0e-5}),
    ("original@lr1e-4", "original", {"learning_rate": 1.0e-4}),
    ("original_lora@r16,lr5e-4", "original_lora", {"learning_rate": 5.0e-4, "lora": {"r": 16, "alpha": 16}}),
    ("original_lora@r16,lr1e-3", "original_lora", {"learning_rate": 1.0e-3, "lora": {"r": 16, "alpha": 16}}),
    ("original_lora@r64,lr5e-4", "original_lora", {"learning_rate": 5.0e-4, "lora": {"r": 64, "alpha": 64}}),
)

# How much must the CPU demo train for `original_lora` to learn facts? The local profile on the
# demo's 60-article dataset, loss on the answers of the `qa` rows: (name, variant, overrides).
_LOCAL_QA = {"styles": ["qa"], "assistant_only_loss": True, "max_steps": -1, "eval_steps": 1000, "save_steps": 1000}
LOCAL_SWEEP = (
    ("local-lora@lr1e-3,e1", "original_lora", _LOCAL_QA | {"learning_rate": 1.0e-3, "num_train_epochs": 1.0}),
    ("local-lora@lr2e-3,e1", "original_lora", _LOCAL_QA | {"learning_rate": 2.0e-3, "num_train_epochs": 1.0}),
    ("local-lora@lr3e-3,e1", "original_lora", _LOCAL_QA | {"learning_rate": 3.0e-3, "num_train_epochs": 1.0}),
    ("local-lora@lr2e-3,e2", "original_lora", _LOCAL_QA | {"learning_rate": 2.0e-3, "num_train_epochs": 2.0}),
    ("local-full@lr1e-4,e1", "original", _LOCAL_QA | {"learning_rate": 1.0e-4, "num_train_epochs": 1.0}),
    ("local-full@lr3e-4,e1", "original", _LOCAL_QA | {"learning_rate": 3.0e-4, "num_train_epochs": 1.0}),
    ("local-full@lr3e-4,e2", "original", _LOCAL_QA | {"learning_rate": 3.0e-4, "num_train_epochs": 2.0}),
)


class Work:
    """Folders of one quality run on the GPU host: the unpacked bundle, the base model, runs, reports."""

    def __init__(self, root: Path, training_overrides: dict[str, Any], evaluation_overrides: dict[str, Any],
                 parallel: int = 8):  # fmt: skip
        self.root = root
        # Laid over every run's settings: a short check of the whole run on a CPU, for instance.
        self.training_overrides = training_overrides
        self.evaluation_overrides = evaluation_overrides
        self.parallel = parallel  # jobs sharing the GPU at once
        self.bundle = root / "bundle"
        self.base = root / "base"
        self.models = root / "models"
        self.reports = root / "reports"
        self.logs = root / "logs"
        self.minilm = root / "minilm"


def _merge(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = json.loads(json.dumps(config))
    for key, value in overrides.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) else value
    return merged


def _train_spec(work: Work, name: str, variant: str, overrides: dict[str, Any], profile: str = PROFILE) -> Path:
    from bmw_assets.models.config import VariantConfig, load_variant_config
    from bmw_assets.run_folders import TrainingRunFolder
    from bmw_assets.run_specs import RunSpec, TrainingData

    config = load_variant_config(variant, profile).model_dump(mode="json")
    config["training"] = _merge(config["training"], overrides | work.training_overrides)
    data = work.bundle / ("dataset" if profile == PROFILE else "local/dataset")
    folder = TrainingRunFolder(work.models / name)
    spec = RunSpec(
        run_id=name, config=VariantConfig.model_validate(config), base_model=str(work.base), output_dir=folder.path,
        dataset=TrainingData(version=json.loads((data / "manifest.json").read_text())["version"],
                             train=data / "train.jsonl", validation=data / "validation.jsonl"),
    )  # fmt: skip
    return spec.write(folder.spec)


def _eval_spec(work: Work, name: str, variant: str, model: Any, retrieval: bool = False,
               profile: str = PROFILE) -> Path:  # fmt: skip
    """The EvalSpec file of `model` (a run_specs.EvaluatedModel) under reports/<name>/."""
    from bmw_assets.models.config import EvaluationMeasurement, load_variant_config
    from bmw_assets.run_folders import EvaluationFolder
    from bmw_assets.run_specs import EvalSpec, RetrievalSettings

    evaluation = load_variant_config(variant if variant in VARIANTS else "original", profile).evaluation
    config = evaluation.measurement().model_dump(mode="json") | {"judge_model": str(work.minilm)}
    data = work.bundle if profile == PROFILE else work.bundle / "local"
    folder = EvaluationFolder(work.reports / name)
    spec = EvalSpec(
        variant=variant, run_id=name, model=model,
        config=EvaluationMeasurement.model_validate(config | work.evaluation_overrides),
        test_texts_path=data / "heldout.jsonl", facts_path=data / "facts.jsonl",
        general_text_path=work.bundle / "general_text.jsonl",
        retrieval=RetrievalSettings(corpus_path=work.bundle / "dataset" / "train.jsonl", encoder_path=work.minilm)
        if retrieval else None,
        output_dir=folder.path,
    )  # fmt: skip
    return spec.write(folder.spec)


def _base_model(work: Work) -> Any:
    """The base model as an evaluation loads it."""
    from bmw_assets.run_specs import EvaluatedModel

    return EvaluatedModel(path=str(work.base))


def _run_all(work: Work, jobs: list[tuple[str, list[str]]], deadline_s: float) -> dict[str, dict[str, Any]]:
    """Run the jobs (name, command), `work.parallel` at a time (they share the GPU), until all end
    or the deadline passes (the rest are then killed); return name -> {returncode, seconds}."""
    work.logs.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                        "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip
    started = time.monotonic()
    waiting, running, results = list(jobs), {}, {}
    while waiting or running:
        while waiting and len(running) < work.parallel and time.monotonic() - started < deadline_s:
            name, command = waiting.pop(0)
            log = open(work.logs / f"{name}.log", "w")
            running[name] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT),
                             log, time.monotonic())  # fmt: skip
            print(f"started {name}", flush=True)
        if waiting and time.monotonic() - started >= deadline_s:
            results |= {name: {"returncode": None, "seconds": 0.0} for name, _ in waiting}
            waiting = []
        for name, (process, log, began) in list(running.items()):
            if process.poll() is None and time.monotonic() - started <= deadline_s:
                continue
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
            results[name] = {"returncode": process.returncode, "seconds": round(time.monotonic() - began, 1)}
            tail = (
                ""
                if process.returncode == 0
                else "\n" + (work.logs / f"{name}.log").read_text(errors="replace")[-1500:]
            )
            print(f"{name}: exit {process.returncode} after {results[name]['seconds']} s{tail}", flush=True)
            del running[name]
        time.sleep(1)
    return results


def _train_command(spec: Path) -> list[str]:
    return [sys.executable, "-m", "bmw_assets.training.train", "--spec", str(spec)]


def _eval_command(spec: Path) -> list[str]:
    return [sys.executable, "-m", "bmw_assets.evaluation.run", "--spec", str(spec)]


def _best(work: Work, runs: list[tuple[str, str, dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
    """The run with the lowest best validation loss among `runs` (those that completed)."""
    scored = []
    from bmw_assets.run_folders import TrainingRunFolder

    for name, _, overrides in runs:
        run = TrainingRunFolder(work.models / name)
        if run.metrics.is_file():
            scored.append((run.read_metrics()["best_eval_loss"], name, overrides))
    if not scored:
        raise RuntimeError(f"no sweep run of {[r[0] for r in runs]} completed: see {work.logs}")
    _, name, overrides = min(scored)
    return name, overrides


def _model_keys(work: Work, name: str) -> Any:
    """The trained model of run `name` as an evaluation loads it (a run_specs.EvaluatedModel)."""
    from bmw_assets.run_folders import TrainingRunFolder
    from bmw_assets.training.artifacts import model_to_evaluate

    manifest = TrainingRunFolder(work.models / name).read_manifest()
    if manifest is None:
        raise RuntimeError(f"run {name} did not complete: see {work.logs / (name + '.log')}")
    return model_to_evaluate(manifest, str(work.base))


def _ensure_base(work: Work, state: dict[str, Any]) -> None:
    """The base model folder, joined from the GGUF parts and dequantized once per work folder."""
    from bmw_assets.hashing import sha256_file
    from bmw_assets.models.base_model import dequantize_gguf

    if (work.base / "config.json").is_file():
        return
    info = json.loads((work.bundle / "bundle.json").read_text())
    gguf = work.root / info["gguf"]["name"]
    with open(gguf, "wb") as joined:
        for part in info["gguf"]["parts"]:
            joined.write((work.root / "gguf" / part).read_bytes())
    if sha256_file(gguf) != info["gguf"]["sha256"]:
        raise RuntimeError(f"{gguf} does not match the bundle's sha256: a part is missing or damaged")
    started = time.monotonic()
    dequantize_gguf(gguf, work.base)
    state["dequantize_seconds"] = round(time.monotonic() - started, 1)


def _chosen(work: Work) -> dict[str, tuple[str, dict[str, Any]]]:
    """The sweep's winner of each method, {"original": (run, overrides), "original_lora": ...}: this
    work folder's sweep where it ran here, else the sweep recorded in benchmarks/results/quality.json
    (a sweep and the final run need not share a device session)."""
    by_method = {variant: [r for r in SWEEP if r[1] == variant] for variant in ("original", "original_lora")}
    if all((work.models / runs[0][0]).is_dir() for runs in by_method.values()):
        return {variant: _best(work, runs) for variant, runs in by_method.items()}
    recorded = json.loads(RESULTS.read_text())["sweep"]
    chosen = {}
    for variant in by_method:
        scored = [r for r in recorded if r["variant"] == variant and r["best_eval_loss"] is not None]
        if not scored:
            raise RuntimeError(f"no sweep result for {variant}: run --stage sweep first")
        best = min(scored, key=lambda r: r["best_eval_loss"])
        chosen[variant] = (best["run"], best["overrides"])
    return chosen


def run_stage(stage: str, work: Work, out: Path, deadline_s: float) -> dict[str, Any]:
    """One device call's share of the run (see main's --stage)."""
    from bmw_assets.run_folders import EvaluationFolder, TrainingRunFolder

    out.mkdir(parents=True, exist_ok=True)
    state_path = work.root / "state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {"stages": {}}
    _ensure_base(work, state)
    if stage == "sweep":
        jobs = [
            (name, _train_command(_train_spec(work, name, variant, overrides))) for name, variant, overrides in SWEEP
        ]
        if (work.bundle / "local").is_dir():
            jobs += [(name, _train_command(_train_spec(work, name, variant, overrides, "local")))
                     for name, variant, overrides in LOCAL_SWEEP]  # fmt: skip
    elif stage == "train":
        chosen = _chosen(work)
        state["chosen"] = {variant: name for variant, (name, _) in chosen.items()}
        # Each variant trains with its method's winning settings; a run killed at a call's deadline
        # resumes from its last checkpoint in the next call.
        jobs = [
            (variant, _train_command(_train_spec(work, variant, variant, chosen[_method(variant)][1])))
            for variant in VARIANTS
            if not TrainingRunFolder(work.models / variant).completed
        ]
    else:  # evaluate: the base, the retrieval baseline and every trained variant not yet reported
        models = {"base": _base_model(work), "base+rag": _base_model(work)}
        models |= {v: _model_keys(work, v) for v in VARIANTS if TrainingRunFolder(work.models / v).completed}
        jobs = [
            (f"eval-{name}", _eval_command(_eval_spec(work, name, name, model, retrieval=name == "base+rag")))
            for name, model in models.items()
            if not EvaluationFolder(work.reports / name).report_json.is_file()
        ]
    state["stages"][stage] = _run_all(work, jobs, deadline_s)
    state_path.write_text(json.dumps(state, indent=2))
    _collect(work, out, state)
    return state


def _method(variant: str) -> str:
    return "original_lora" if variant.endswith("_lora") else "original"


def _collect(work: Work, out: Path, state: dict[str, Any]) -> None:
    """Everything but weights into $OUT: run metrics and manifests, eval reports, logs, state."""
    import tarfile

    from bmw_assets.run_folders import REPORT_JSON, REPORT_MARKDOWN

    with tarfile.open(out / "quality-run.tar.gz", "w:gz") as tar:
        # Only the files directly in a run folder: checkpoints and merged/ stay behind.
        for path in sorted(work.models.glob("*/*.json")) + sorted(work.models.glob("*/*.png")):
            tar.add(path, arcname=str(path.relative_to(work.root)))
        reports = sorted(work.reports.glob(f"*/{REPORT_JSON}")) + sorted(work.reports.glob(f"*/{REPORT_MARKDOWN}"))
        for path in reports + sorted(work.logs.glob("*.log")):
            tar.add(path, arcname=str(path.relative_to(work.root)))
    (out / "state.json").write_text(json.dumps(state, indent=2))


# ---------------------------------------------------------------- report (CPU)


# Targets of the quality run: (description, check over the rows by model name).
def _targets(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    def ppl(name):
        return (rows.get(name) or {}).get("heldout_perplexity")

    def recall(name):
        return (rows.get(name) or {}).get("fact_recall_train")

    base = ppl("base")
    checks = [
        ("original held-out perplexity <= 0.7 x base", ppl("original"), 0.7 * base if base else None, "<="),
        ("original_lora held-out perplexity <= 0.8 x base", ppl("original_lora"), 0.8 * base if base else None, "<="),
        *((f"{v} held-out perplexity below the base", ppl(v), base, "<") for v in VARIANTS),
        ("dropped within 5% of original", ppl("dropped"), 1.05 * ppl("original") if ppl("original") else None, "<="),
        ("pruned within 1.5 x original", ppl("pruned"), 1.5 * ppl("original") if ppl("original") else None, "<="),
        ("original fact recall (train articles) >= 60%", recall("original"), 0.6, ">="),
        ("original_lora fact recall (train articles) >= 40%", recall("original_lora"), 0.4, ">="),
        (
            "original_lora forgetting <= +10%",
            (rows.get("original_lora") or {}).get("forgetting_change_pct"),
            10.0,
            "<=",
        ),
        (
            "original beats the retrieval baseline on train-article fact recall",
            recall("original"),
            recall("base+rag"),
            ">",
        ),
    ]
    compare = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b, ">": lambda a, b: a > b}
    return [
        {"target": text, "value": value, "bound": bound,
         "met": None if value is None or bound is None else bool(compare[op](value, bound))}
        for text, value, bound, op in checks
    ]  # fmt: skip


def _training_summary(stats: dict[str, Any] | None) -> dict[str, Any] | None:
    if not stats:
        return None
    return {
        key: stats.get(key)
        for key in (
            "best_eval_loss",
            "final_train_loss",
            "final_eval_loss",
            "global_step",
            "trained_tokens",
            "tokens_per_second",
            "wall_seconds",
            "layers",
            "removed_layers",
            "trainable_params",
            "total_params",
            "device",
        )
    } | {"eval_loss_curve": [(p["step"], round(p["loss"], 4)) for p in stats.get("history", {}).get("eval", [])]}


def report(run_dir: Path, results: Path, jobs: dict[str, Any] | None = None) -> dict[str, Any]:
    """quality.json from the unpacked device output in `run_dir` (models/, reports/, state.json):
    every run's training summary, the sweeps, and the evaluation table with its targets where the
    evaluations completed (`jobs`: the device calls' job results, when several calls made the run)."""
    from bmw_assets.evaluation.comparison import compare_variants, load_training_stats
    from bmw_assets.evaluation.report import read_report
    from bmw_assets.run_folders import EvaluationFolder

    def report_file(name: str) -> Path:
        return EvaluationFolder(run_dir / "reports" / name).report_json

    state = json.loads((run_dir / "state.json").read_text())
    chosen = state.get("chosen", {})
    training = {path.name: _training_summary(load_training_stats(path)) for path in sorted((run_dir / "models").iterdir())
                if path.is_dir()}  # fmt: skip
    sweep = [{"run": name, "variant": variant, "overrides": overrides, "best_eval_loss": (training.get(name) or {}).get(
        "best_eval_loss"), "chosen": name in chosen.values()} for name, variant, overrides in SWEEP]  # fmt: skip
    recorded = json.loads(results.read_text()) if results.is_file() else {}
    if all(row["best_eval_loss"] is None for row in sweep) and recorded.get("sweep"):
        # The sweep ran in an earlier device session: its figures stay as they were recorded.
        sweep = recorded["sweep"]
    local = []
    for name, variant, overrides in LOCAL_SWEEP:
        row = {"run": name, "variant": variant, "overrides": overrides,
               "best_eval_loss": (training.get(name) or {}).get("best_eval_loss")}  # fmt: skip
        path = report_file(name)
        if path.is_file():
            r = read_report(path)
            row |= {
                "heldout_perplexity": r.perplexity.get("perplexity"),
                "fact_recall_train": r.fact_recall["train"]["rate"],
            }
        local.append(row)
    if all(row["best_eval_loss"] is None for row in local) and recorded.get("local_sweep"):
        local = recorded["local_sweep"]
    result: dict[str, Any] = {"profile": PROFILE, "chosen": chosen, "sweep": sweep, "local_sweep": local,
                              "training": training, "jobs": jobs or state["stages"],
                              "dequantize_seconds": state.get("dequantize_seconds")}  # fmt: skip
    if report_file("base").is_file():
        reports = {v: read_report(report_file(v)) if report_file(v).is_file() else None for v in VARIANTS}
        base = read_report(report_file("base"))
        rag = report_file("base+rag")
        retrieval = read_report(rag) if rag.is_file() else None
        stats = {v: load_training_stats(run_dir / "models" / v) for v in VARIANTS}
        table = compare_variants(reports, base, stats, retrieval=retrieval)
        errors = {r.variant: r.standard_errors() for r in [base, retrieval, *reports.values()] if r is not None}
        rows = {row["variant"]: row | {"standard_errors": errors.get(row["variant"], {})} for row in table.to_dicts()}
        result |= {"rows": rows, "targets": _targets(rows)}
        _print_table(result)
    else:
        result["evaluation"] = "not completed: no base-model report in the device output"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2, default=str) + "\n")
    for row in sweep + local:
        print(f"{row['run']:<28} best validation loss {row['best_eval_loss']}")
    return result


def _print_table(result: dict[str, Any]) -> None:
    columns = ("heldout_perplexity", "general_perplexity", "forgetting_change_pct", "fact_recall_train", "fact_recall_test",
               "fact_perplexity_train", "fact_perplexity_test", "semantic_entropy")  # fmt: skip
    print(f"{'model':<16}" + "".join(f"{c[:18]:>20}" for c in columns))
    for name, row in result["rows"].items():
        cells = []
        for column in columns:
            value, error = row.get(column), row["standard_errors"].get(column)
            cells.append("—" if value is None else f"{value:.3f}" + (f" ±{error:.3f}" if error else ""))
        print(f"{name:<16}" + "".join(f"{c:>20}" for c in cells))
    for target in result["targets"]:
        print(f"{'met' if target['met'] else 'MISSED' if target['met'] is False else 'n/a':>7}  {target['target']}"
              f"  ({target['value']} vs {target['bound']})")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    phases = parser.add_subparsers(dest="phase", required=True)
    prep = phases.add_parser("prepare", help="CPU: build the dataset through the assets and write the bundle")
    prep.add_argument("--storage", type=Path, required=True)
    prep.add_argument("--articles", type=int, default=1100)
    prep.add_argument("--bundle", type=Path, default=ROOT / ".quality", help="where the carried files go (git-ignored)")
    prep.add_argument("--fact-questions", type=int, default=250, help="per split (train and test articles)")
    prep.add_argument("--local-storage", type=Path, default=None, help="a `make demo` storage root for the local sweep")
    run = phases.add_parser("run", help="GPU host: one stage of the training and evaluation")
    run.add_argument("--stage", choices=("sweep", "train", "evaluate"), required=True,
                     help="sweep: the learning-rate and rank sweep on the validation split; train: the six "
                     "variants with the sweep's winners (resumes unfinished runs); evaluate: the base, base+rag "
                     "and every trained variant not yet reported")  # fmt: skip
    run.add_argument("--work", type=Path, default=Path("/tmp/quality"))
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--deadline", type=float, default=540, help="seconds before unfinished jobs are killed")
    run.add_argument("--parallel", type=int, default=8, help="jobs sharing the GPU at once")
    run.add_argument("--training", type=json.loads, default={}, help="JSON laid over every run's training section")
    run.add_argument("--evaluation", type=json.loads, default={}, help="JSON laid over every evaluation section")
    rep = phases.add_parser("report", help="quality.json from the device output (unpacked quality-run.tar.gz)")
    rep.add_argument("--run-dir", type=Path, required=True)
    rep.add_argument(
        "--jobs",
        type=Path,
        nargs="*",
        default=[],
        help="state.json of each device call, when several calls made the run (their job results are kept)",
    )
    args = parser.parse_args(argv)
    if args.phase == "report":
        # A work folder's state.json keeps the stages of its earlier calls: each is counted once.
        jobs, seen = {}, []
        for n, path in enumerate(args.jobs, 1):
            for stage, outcome in json.loads(path.read_text())["stages"].items():
                if outcome not in seen:
                    jobs[f"call {n}: {stage}"] = outcome
                    seen.append(outcome)
        jobs = jobs or None
        report(args.run_dir, RESULTS, jobs)
    elif args.phase == "run":
        run_stage(args.stage, Work(args.work, args.training, args.evaluation, args.parallel), args.out, args.deadline)
    elif args.phase == "prepare":
        local = args.local_storage.resolve() if args.local_storage else None
        info = prepare(args.storage.resolve(), args.articles, args.bundle.resolve(), args.fact_questions, local)
        print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
