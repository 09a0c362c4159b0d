"""Crash safety and concurrent writers of the ingestion stages, with real processes.

A child process runs `update_article_index` + `update_raw_pdfs` (the work behind the
`article_index` and `raw_pdfs` assets) against the replica on loopback and a real DuckDB
catalog; the test SIGKILLs it during downloads, inside a DuckDB write transaction and at
random moments, then checks that the catalog is consistent, that what was committed before
the kill survives, and that the next run (a real Dagster materialization) completes.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from bmw_assets.catalog import connect
from bmw_assets.defs import ingestion
from bmw_assets.defs.failure_checks import FailurePolicyResource
from bmw_assets.defs.io_manager import ManifestIOManager
from bmw_assets.defs.resources import ReplicaPressClubResource, StorageResource
from bmw_assets.replica import Faults, ReplicaServer

TARGET = 40
BATCH = 10  # attachments per catalog commit in the child, so a kill lands between commits

# The child: the two ingestion stages, with a hook that can hold the N-th catalog transaction
# after its rows are written and before COMMIT (PAUSE_AT_WRITE=N), so a kill lands inside it.
CHILD = r"""
import contextlib, os, sys, time
from pathlib import Path
from bmw_assets.pressclub import ClientSettings
from bmw_assets.stages import ingestion

base_url, root, target, batch = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
pause_at = int(os.environ.get("PAUSE_AT_WRITE", "0"))
writes = 0
real_transaction = ingestion.transaction

@contextlib.contextmanager
def transaction(con):
    global writes
    writes += 1
    with real_transaction(con):
        yield con
        if writes == pause_at:
            (root / "inside-write").write_text(str(os.getpid()))
            time.sleep(120)

ingestion.transaction = transaction
settings = ClientSettings.local(base_url)
ingestion.update_article_index(settings, root / "catalog.duckdb", target)
ingestion.update_raw_pdfs(settings, root / "catalog.duckdb", root / "raw" / "pdfs", batch_size=batch)
"""


def start_child(replica: ReplicaServer, root: Path, pause_at_write: int = 0) -> subprocess.Popen:
    env = {**os.environ, "PAUSE_AT_WRITE": str(pause_at_write)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, replica.base_url, str(root), str(TARGET), str(BATCH)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def kill(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL


def wait_until(condition, child: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if child.poll() is not None:
            raise AssertionError(f"the child ended (rc {child.returncode}) first: {child.communicate()[1][-2000:]}")
        assert time.monotonic() < deadline, "the child never reached the point to be killed at"
        time.sleep(0.01)


def rows(root: Path, sql: str) -> list[tuple]:
    with connect(root / "catalog.duckdb") as con:  # read-write: opening replays what the WAL holds
        return con.execute(sql).fetchall()


def assert_catalog_consistent(root: Path) -> None:
    """No duplicate ids; every attachment row belongs to a stored article and, when ok, names a
    whole file with its sha256; every PDF under its final name is whole (atomic writes)."""
    if not (root / "catalog.duckdb").exists():
        return
    assert rows(root, "SELECT count(*) - count(DISTINCT id) FROM articles") == [(0,)]
    assert rows(root, "SELECT count(*) - count(DISTINCT (article_id, url)) FROM attachments") == [(0,)]
    orphans = rows(
        root,
        """SELECT t.article_id, t.url FROM attachments t LEFT JOIN articles a ON a.id = t.article_id
                            WHERE a.id IS NULL OR NOT list_contains(a.attachment_urls, t.url)""",
    )
    assert orphans == []
    for path, sha, pages in rows(root, "SELECT path, sha256, pages FROM attachments WHERE status = 'ok'"):
        assert Path(path).name == f"{sha}.pdf" and pages >= 1
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha
    for pdf in (root / "raw" / "pdfs").glob("*.pdf"):
        assert hashlib.sha256(pdf.read_bytes()).hexdigest() == pdf.stem, f"{pdf} is not whole"


def materialize(replica: ReplicaServer, root: Path) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [ingestion.article_index, ingestion.raw_pdfs],
            resources={
                "storage": StorageResource(root=str(root)),
                "pressclub": ReplicaPressClubResource(base_url=replica.base_url, default_target=TARGET),
                "io_manager": ManifestIOManager(root=str(root / "manifests")),
                "failure_policy": FailurePolicyResource(),
            },
            instance=instance,
        )
    assert result.success
    return result


def assert_complete(replica: ReplicaServer, root: Path) -> None:
    truth = replica.visible_articles()[:TARGET]
    assert sorted(r[0] for r in rows(root, "SELECT id FROM articles")) == sorted(a.id for a in truth)
    statuses = dict(rows(root, "SELECT status, count(*) FROM attachments GROUP BY status"))
    assert sum(statuses.values()) == sum(len(a.attachments) for a in truth) and "failed" not in statuses
    assert_catalog_consistent(root)


@pytest.fixture()
def replica():
    # Some latency per request, so a run lasts long enough to be killed mid-way.
    with ReplicaServer(faults=Faults(latency_s=0.05)) as server:
        yield server


def test_kill_during_downloads_keeps_committed_batches_and_the_next_run_fetches_only_the_rest(
    replica: ReplicaServer, tmp_path: Path
) -> None:
    child = start_child(replica, tmp_path)
    # The 16th attachment request means the first batch of 10 was downloaded and committed.
    wait_until(lambda: replica.stats.get("attachment", 0) >= BATCH + 6, child)
    kill(child)
    assert_catalog_consistent(tmp_path)
    kept = rows(tmp_path, "SELECT article_id, url, sha256 FROM attachments")
    assert len(rows(tmp_path, "SELECT id FROM articles")) == TARGET
    assert len(kept) >= BATCH and len(kept) % BATCH == 0  # whole batches only

    # Partial downloads: those the kill left (aged, plus one planted) and a fresh one are all removed
    # by the next run, which finds no download in progress (a run holding the folder's lock keeps
    # fresh ones: test_reliability_ingestion_faults).
    pdf_dir = tmp_path / "raw" / "pdfs"
    (pdf_dir / ".download-planted.part").write_bytes(b"%PDF-1.4 half")
    left = list(pdf_dir.glob(".download-*.part"))
    for path in left:
        os.utime(path, (time.time() - 2 * 3600,) * 2)
    (pdf_dir / ".download-live.part").write_bytes(b"%PDF-1.4 in progress")

    before = replica.stats.get("attachment", 0)
    result = materialize(replica, tmp_path)
    total = sum(len(a.attachments) for a in replica.visible_articles()[:TARGET])
    metadata = result.asset_materializations_for_node("raw_pdfs")[0].metadata
    assert metadata["stale_partials_removed"].value == len(left) + 1
    assert not list(pdf_dir.glob(".download-*.part"))
    assert metadata["requested"].value == total - len(kept)
    assert replica.stats["attachment"] - before == total - len(kept), "stored attachments were fetched again"
    assert set(kept) <= set(rows(tmp_path, "SELECT article_id, url, sha256 FROM attachments"))
    assert_complete(replica, tmp_path)


@pytest.mark.parametrize("write", [1, 3], ids=["articles-upsert", "second-attachment-batch"])
def test_kill_inside_a_duckdb_write_transaction_leaves_the_catalog_as_before_it(
    replica: ReplicaServer, tmp_path: Path, write: int
) -> None:
    child = start_child(replica, tmp_path, pause_at_write=write)
    wait_until((tmp_path / "inside-write").exists, child)
    kill(child)
    assert_catalog_consistent(tmp_path)
    articles = rows(tmp_path, "SELECT count(*) FROM articles")[0][0]
    attachments = rows(tmp_path, "SELECT count(*) FROM attachments")[0][0]
    # Write 1 is the articles upsert; write 3 the second batch of attachments: what it wrote is gone.
    assert (articles, attachments) == ((0, 0) if write == 1 else (TARGET, BATCH))
    materialize(replica, tmp_path)
    assert_complete(replica, tmp_path)


@pytest.mark.slow
def test_kills_at_random_moments_never_leave_an_inconsistent_catalog(replica: ReplicaServer, tmp_path: Path) -> None:
    replica.faults.latency_s = 0.2  # a run then lasts ~3 s or more on any machine, so most kills land mid-run
    rng = random.Random(2026)
    killed = 0
    for _ in range(3):
        child = start_child(replica, tmp_path)
        time.sleep(rng.uniform(1.0, 3.0))  # the child's imports take ~1 s; a whole run ~3-5 s here
        if child.poll() is None:
            kill(child)
            killed += 1
        assert_catalog_consistent(tmp_path)
    assert killed >= 2, "most attempts were killed mid-run"
    materialize(replica, tmp_path)
    assert_complete(replica, tmp_path)


def test_two_runs_at_once_both_succeed_and_the_catalog_stays_consistent(replica: ReplicaServer, tmp_path: Path) -> None:
    children = [start_child(replica, tmp_path) for _ in range(2)]
    outcomes = [child.communicate(timeout=120) for child in children]
    for child, (_, stderr) in zip(children, outcomes, strict=True):
        assert child.returncode == 0, stderr[-2000:]  # the second writer waited for the lock, it did not fail
    assert_complete(replica, tmp_path)
    with duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM articles").fetchall() == [(TARGET,)]
