"""Materialize `article_index` and `raw_pdfs` against the replica on a real loopback port,
with a real DuckDB file and a temp Dagster instance; evaluate the sensor with a cursor."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
from pypdf import PdfReader

from bmw_assets.defs import ingestion
from bmw_assets.defs.failure_checks import FailurePolicyResource
from bmw_assets.defs.io_manager import ManifestIOManager
from bmw_assets.defs.resources import ReplicaPressClubResource, StorageResource
from bmw_assets.defs.sensors import new_press_releases
from bmw_assets.replica.server import ReplicaServer

TARGET = 40


@pytest.fixture()
def replica():
    with ReplicaServer() as server:
        yield server


def resources(replica: ReplicaServer, root: Path) -> dict:
    return {
        "storage": StorageResource(root=str(root)),
        "pressclub": ReplicaPressClubResource(base_url=replica.base_url, default_target=TARGET),
        "io_manager": ManifestIOManager(root=str(root / "manifests")),
        "failure_policy": FailurePolicyResource(),
    }


def materialize_ingestion(
    replica: ReplicaServer, root: Path, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [ingestion.article_index, ingestion.raw_pdfs], resources=resources(replica, root), instance=instance
    )
    assert result.success
    return result


def test_ingestion_fills_catalog_and_second_run_downloads_nothing(replica: ReplicaServer, tmp_path: Path) -> None:
    with dg.instance_for_test() as instance:
        first = materialize_ingestion(replica, tmp_path, instance)
        con = duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True)
        ids = [r[0] for r in con.execute("SELECT id FROM articles").fetchall()]
        assert len(ids) == TARGET == len(set(ids))
        ok = con.execute("SELECT path, sha256, pages FROM attachments WHERE status = 'ok'").fetchall()
        statuses = dict(con.execute("SELECT status, count(*) FROM attachments GROUP BY status").fetchall())
        con.close()
        assert len(ok) >= TARGET * 0.7
        for path, sha, pages in ok:
            assert Path(path).name == f"{sha}.pdf"
            assert len(PdfReader(path).pages) == pages >= 1
        index_meta = first.asset_materializations_for_node("article_index")[0].metadata
        assert index_meta["new"].value == TARGET and index_meta["total_articles"].value == TARGET

        before = dict(replica.stats)
        second = materialize_ingestion(replica, tmp_path, instance)
        after = dict(replica.stats)
        assert after.get("attachment", 0) == before.get("attachment", 0), "second run downloaded attachments"
        assert after.get("detail", 0) == before.get("detail", 0), "second run fetched detail pages"
        assert second.asset_materializations_for_node("article_index")[0].metadata["new"].value == 0
        assert second.asset_materializations_for_node("raw_pdfs")[0].metadata["downloaded_ok"].value == 0
        assert sum(statuses.values()) >= len(ok)


def test_sensor_requests_one_run_naming_the_new_articles(replica: ReplicaServer, tmp_path: Path) -> None:
    with dg.instance_for_test() as instance:
        materialize_ingestion(replica, tmp_path, instance)
        res = resources(replica, tmp_path)
        quiet = new_press_releases(dg.build_sensor_context(instance=instance, resources=res))
        assert isinstance(quiet, dg.SkipReason)

        published = replica.publish(3)
        context = dg.build_sensor_context(instance=instance, resources=res)
        result = new_press_releases(context)
        assert isinstance(result, dg.SensorResult)
        assert len(result.run_requests) == 1
        named = set(result.run_requests[0].tags["bmw/new_articles"].split(","))
        assert named == set(published)
        assert result.cursor == max(published)

        again = new_press_releases(dg.build_sensor_context(instance=instance, resources=res, cursor=result.cursor))
        assert isinstance(again, dg.SkipReason)
