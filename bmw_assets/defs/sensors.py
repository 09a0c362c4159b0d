"""The sensor that notices new press releases and refreshes the data assets."""

import dagster as dg
import duckdb

from bmw_assets.catalog import connect
from bmw_assets.defs.resources import PressClubResource, StorageResource
from bmw_assets.pressclub import newest_article_ids

# Assets refreshed when new releases appear: the data path down to the dataset.
# Training is left to the user (or to `retrain_on_new_data`), since it costs GPU hours.
REFRESH_SELECTION = ["article_index", "raw_pdfs", "regex_text", "llm_text", "chatml_dataset"]
MAX_IDS_PER_TICK = 50


@dg.sensor(
    name="new_press_releases",
    description="Polls the first feed page; when article ids newer than the cursor appear that the catalog "
    "lacks, requests one run refreshing the data assets. The cursor is the newest id seen.",
    minimum_interval_seconds=300,
    target=REFRESH_SELECTION,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def new_press_releases(
    context: dg.SensorEvaluationContext, pressclub: PressClubResource, storage: StorageResource
) -> dg.SensorResult | dg.SkipReason:
    newest = [article_id for article_id, _ in newest_article_ids(pressclub.client_settings(), pages=1)]
    cursor = context.cursor or ""
    known = _catalog_ids(storage)
    # Ids grow over time ("T" + 7 digits + language), so "newer" is a string comparison.
    fresh = sorted({i for i in newest if i > cursor and i not in known}, reverse=True)[:MAX_IDS_PER_TICK]
    if not fresh:
        return dg.SkipReason(f"no article newer than {cursor or 'the catalog'}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"new-press-releases-{fresh[0]}",
                tags={"bmw/new_articles": ",".join(fresh)[:1000], "bmw/new_article_count": str(len(fresh))},
            )
        ],
        cursor=max(fresh[0], cursor),
    )


def _catalog_ids(storage: StorageResource) -> set[str]:
    """Ids already in the catalog; empty while a run holds the catalog's write lock (the cursor still guards)."""
    try:
        with connect(storage.layout.catalog_path) as con:
            return {row[0] for row in con.execute("SELECT id FROM articles").fetchall()}
    except duckdb.IOException:
        return set()


# Evaluates the declarative automation conditions (eval_report follows trained_model).
automation = dg.AutomationConditionSensorDefinition(
    "automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING
)
