"""A storage root holding what the sharing and serving tests start from, made by the library's own
stages: replica articles and their cleaned texts in a real DuckDB catalog (with F1 scores), a
dataset version built from them, and one `dropped_lora` run trained for one step at 64 tokens
(learning rate 1e-2, no warmup, so the adapter is far from zero).

Training is idempotent (a finished run folder is returned as is), so every test module of a
session asks `tiny_storage` for the same root and only the first one trains (~10 s).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bmw_assets.catalog import connect, transaction
from bmw_assets.dataset.manifest import DatasetManifest
from bmw_assets.dataset.settings import DatasetSettings
from bmw_assets.models.config import load_variant_config
from bmw_assets.replica.corpus import build_corpus
from bmw_assets.settings import StorageLayout
from bmw_assets.stages.dataset import update_chatml_dataset
from bmw_assets.stages.texts import TextRow, store_texts
from bmw_assets.stages.training import plan_training_run, record_training_run
from bmw_assets.training.launch import training_command, training_env
from bmw_assets_tests.conftest import write_tiny_configs

VARIANT = "dropped_lora"
ARTICLES = 12
# The first paragraphs only: short articles make few validation rows, and evaluation dominates a 1-step run.
PARAGRAPHS = 2
# Page furniture the regex stage kept, so its F1 against the HTML body is below the LLM stage's.
FURNITURE = "BMW Group Corporate Communications\nPress contact: +49 89 382 00000"


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op torch thread while a module's in-process model work runs (import it to use it):
    on a shared 2-core box two threads contend so badly that an export took 60 s instead of 10."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class TinyStorage:
    layout: StorageLayout
    configs_dir: Path
    dataset: DatasetManifest
    trained: dict[str, Any]  # the trained_model asset value (manifest + metrics)


def _fill_catalog(layout: StorageLayout) -> dict[str, list[tuple[str, str]]]:
    corpus = [replace(a, paragraphs=a.paragraphs[:PARAGRAPHS]) for a in build_corpus()[:ARTICLES]]
    now = datetime.now(UTC)
    with connect(layout.catalog_path) as con, transaction(con):
        con.executemany(
            "INSERT OR REPLACE INTO articles (id, language, url, title, published_at, category, body_text, "
            "first_seen_at, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(a.id, a.language, f"https://www.press.bmwgroup.com/global/article/detail/{a.id}", a.title,
              a.published_at, "Press Release", a.body_text, now, now) for a in corpus],
        )  # fmt: skip
    rows = []
    for a in corpus:
        rows.append(TextRow(a.id, "regex", "pdf", f"{FURNITURE}\n\n{a.body_text}", a.id, "ok", reference=a.body_text))
        rows.append(TextRow(a.id, "llm", "pdf", a.body_text, a.id, "ok", reference=a.body_text))
    store_texts(layout.catalog_path, layout.text_dir, rows)
    return {a.id: [(f.question, f.answer) for f in a.facts] for a in corpus}


def tiny_storage(root: Path, base_model_dir: Path) -> TinyStorage:
    """Build (or find) the tiny storage root at `root`; see the module docstring."""
    layout = StorageLayout(Path(root))
    configs = layout.root / "configs"
    if not configs.is_dir():
        write_tiny_configs(configs)
        local = yaml.safe_load((configs / "profiles" / "local.yaml").read_text())
        local["training"] |= {
            "max_length": 64,
            "max_steps": 1,
            "eval_steps": 1,
            "save_steps": 1,
            "warmup_ratio": 0.0,
            "learning_rate": 1.0e-2,
        }
        (configs / "profiles" / "local.yaml").write_text(yaml.safe_dump(local))
        # The session's dequantized base model stands in for the storage root's own cache.
        (layout.cache_dir / "base_models").mkdir(parents=True)
        (layout.cache_dir / "base_models" / "smollm2-135m-instruct").symlink_to(base_model_dir)
    facts = _fill_catalog(layout)
    settings = DatasetSettings(styles=("instruct", "qa"), max_length=128, test_strategy="newest")
    dataset = update_chatml_dataset(layout.catalog_path, layout.datasets_dir, str(base_model_dir), settings, facts)
    plan = plan_training_run(
        load_variant_config(VARIANT, "local", configs), {"version": dataset.version, "path": dataset.path}, layout
    )
    if not plan.completed:
        # Out of process with one torch thread, as the pipeline trains: two threads on a busy 2-core box crawl.
        env = {**training_env(), "OMP_NUM_THREADS": "1"}
        done = subprocess.run(training_command(plan.spec_path, num_gpus=0, fsdp=False), env=env, capture_output=True,
                              text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    trained = record_training_run(layout.catalog_path, plan)
    assert plan.folder.read_manifest()["removed_layers"] == trained["removed_layers"]
    return TinyStorage(layout, configs, dataset, trained)
