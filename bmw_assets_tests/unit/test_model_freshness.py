"""Stale models against the newest dataset, and the retrain policy's sensor, on a real DuckDB
catalog holding two dataset versions and training runs on the older one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from bmw_assets.catalog import connect
from bmw_assets.defs.resources import ModelConfigsResource, RetrainPolicyResource, StorageResource
from bmw_assets.defs.sensors import retrain_on_new_articles
from bmw_assets.settings import StorageLayout
from bmw_assets.stages.model_freshness import model_freshness

VARIANTS = ["dropped", "dropped_lora", "original", "original_lora", "pruned", "pruned_lora"]
OLD, NEW = "a" * 64, "b" * 64
OLD_ARTICLES = [f"T{i:07d}EN" for i in range(10)]
NEW_ARTICLES = OLD_ARTICLES + [f"T{i:07d}EN" for i in range(10, 15)]  # five more


def add_dataset(con, version: str, articles: list[str], day: int) -> None:
    created = dt.datetime(2026, 11, day, tzinfo=dt.UTC)
    con.execute("INSERT INTO dataset_versions (version, path, articles, created_at) VALUES (?, ?, ?, ?)",
                [version, f"/datasets/{version}", len(articles), created])  # fmt: skip
    for article in articles:
        con.execute("INSERT INTO dataset_splits VALUES (?, ?, 'train')", [version, article])


def add_run(con, variant: str, dataset_version: str, day: int) -> None:
    created = dt.datetime(2026, 11, day, tzinfo=dt.UTC)
    con.execute("INSERT INTO training_runs (variant, run_id, dataset_version, status, created_at) "
                "VALUES (?, ?, ?, 'completed', ?)", [variant, f"{dataset_version[:4]}-{day}", dataset_version, created])  # fmt: skip


@pytest.fixture
def layout(tmp_path: Path) -> StorageLayout:
    layout = StorageLayout(tmp_path)
    with connect(layout.catalog_path) as con:
        add_dataset(con, OLD, OLD_ARTICLES, 1)
        add_run(con, "original", OLD, 2)
        add_run(con, "original_lora", OLD, 2)
        add_run(con, "dropped", OLD, 2)
        add_dataset(con, NEW, NEW_ARTICLES, 3)
        add_run(con, "dropped", NEW, 4)  # retrained since
    return layout


def test_freshness_counts_the_articles_each_model_has_not_seen(layout: StorageLayout) -> None:
    by_variant = {f.variant: f for f in model_freshness(layout.catalog_path, VARIANTS)}
    assert by_variant["original"].stale and by_variant["original"].new_articles == 5
    assert by_variant["original"].trained_on == OLD and by_variant["original"].newest == NEW
    assert not by_variant["dropped"].stale and by_variant["dropped"].new_articles == 0
    never = by_variant["pruned"]
    assert never.stale and never.trained_on is None and never.new_articles == len(NEW_ARTICLES)


def test_an_empty_catalog_has_no_stale_model(tmp_path: Path) -> None:
    assert not any(f.stale for f in model_freshness(StorageLayout(tmp_path).catalog_path, VARIANTS))


def sensor_result(layout: StorageLayout, min_new_articles: int):
    resources = {
        "retrain_policy": RetrainPolicyResource(min_new_articles=min_new_articles),
        "storage": StorageResource(root=str(layout.root)),
        "model_configs": ModelConfigsResource(profile="local"),
    }
    with dg.instance_for_test() as instance:
        return retrain_on_new_articles(dg.build_sensor_context(instance=instance, resources=resources))


def test_retraining_is_off_by_default_and_the_tick_names_the_stale_models(layout: StorageLayout) -> None:
    result = sensor_result(layout, RetrainPolicyResource().min_new_articles)
    assert isinstance(result, dg.SkipReason)
    assert "off" in result.skip_message
    assert "original: 5 new articles" in result.skip_message and "dropped:" not in result.skip_message


def test_models_lacking_n_new_articles_are_retrained_and_others_wait(layout: StorageLayout) -> None:
    result = sensor_result(layout, 5)
    # Trained before and five articles behind; never-trained variants are left to the user.
    assert sorted(r.partition_key for r in result) == ["original", "original_lora"]
    assert all(r.run_key.endswith(NEW[:16]) for r in result)
    waiting = sensor_result(layout, 6)
    assert isinstance(waiting, dg.SkipReason) and "6 or more" in waiting.skip_message
