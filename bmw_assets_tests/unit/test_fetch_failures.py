"""What article_index could not fetch, across runs, in a real DuckDB catalog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bmw_assets.catalog import connect, transaction
from bmw_assets.pressclub.records import ItemFailure
from bmw_assets.stages.ingestion import _record_fetch_failures, persistent_fetch_failures

ARTICLE = ItemFailure("T0454296EN", "http://press/article/detail/T0454296EN", "HTTP 500")
FEED = ItemFailure("rss2 global", "http://press/rss2/global", "HTTP 503")
START = datetime(2026, 11, 1, tzinfo=UTC)


def run(catalog, failures, fetched, day):
    with connect(catalog) as con, transaction(con):
        _record_fetch_failures(con, failures, fetched, START + timedelta(days=day))
    with connect(catalog, read_only=True) as con:
        return {
            row[0]: row[1:]
            for row in con.execute(
                "SELECT item, attempts, first_failed_at, last_failed_at, reason FROM fetch_failures"
            ).fetchall()
        }


def test_failures_are_counted_across_runs_until_fetched(tmp_path):
    catalog = tmp_path / "catalog.duckdb"
    first = run(catalog, [ARTICLE, FEED], [], day=0)
    assert {item: row[0] for item, row in first.items()} == {"T0454296EN": 1, "rss2 global": 1}

    # The article fails again; the feed was read fine (it has recovered); another article arrived.
    second = run(catalog, [ItemFailure(ARTICLE.item, ARTICLE.url, "timed out")], ["T0454300EN"], day=1)
    attempts, first_failed, last_failed, reason = second["T0454296EN"]
    assert list(second) == ["T0454296EN"] and attempts == 2 and reason == "timed out"
    assert (first_failed, last_failed) == (START, START + timedelta(days=1))
    assert [f["item"] for f in persistent_fetch_failures(catalog, min_attempts=2)] == ["T0454296EN"]
    assert persistent_fetch_failures(catalog, min_attempts=3) == []

    # Not tried this run (outside the window): kept. Fetched later: gone.
    assert run(catalog, [], [], day=2)["T0454296EN"][0] == 2
    assert run(catalog, [], ["T0454296EN"], day=3) == {}
