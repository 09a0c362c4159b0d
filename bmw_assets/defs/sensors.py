"""The sensor that notices new press releases and refreshes the data assets."""

import dagster as dg
import duckdb

from bmw_assets.catalog import connect
from bmw_assets.catalog.articles import article_ids
from bmw_assets.defs.resources import (
    ModelConfigsResource,
    PressClubResource,
    RetrainPolicyResource,
    StorageResource,
)
from bmw_assets.pressclub import newest_article_ids
from bmw_assets.stages.model_freshness import model_freshness

# Assets refreshed when new releases appear: the data path down to the dataset.
# Training is left to the user (or to `retrain_on_new_articles`), since it costs GPU hours.
REFRESH_SELECTION = ["article_index", "raw_pdfs", "regex_text", "llm_text", "chatml_dataset"]
MAX_IDS_PER_TICK = 50
# A sensor tick waits this long for a run's catalog write to finish, then tries again next tick.
SENSOR_LOCK_WAIT_S = 5.0


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
        with connect(storage.layout.catalog_path, lock_timeout_s=SENSOR_LOCK_WAIT_S) as con:
            return article_ids(con)
    except duckdb.IOException:
        return set()


@dg.sensor(
    name="retrain_on_new_articles",
    description="Compares each trained variant's dataset with the newest chatml_dataset. When the retrain "
    "policy is on (BMW_RETRAIN_MIN_NEW_ARTICLES > 0) and a variant trained before lacks at least that many of "
    "the newest dataset's articles, requests its trained_model partition again (eval_report follows). When it "
    "is off, each tick says which models are stale and by how many articles.",
    minimum_interval_seconds=300,
    target=dg.AssetSelection.assets("trained_model"),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def retrain_on_new_articles(
    retrain_policy: RetrainPolicyResource, storage: StorageResource, model_configs: ModelConfigsResource
) -> list[dg.RunRequest] | dg.SkipReason:
    try:
        freshness = model_freshness(storage.layout.catalog_path, model_configs.variants(), SENSOR_LOCK_WAIT_S)
    except duckdb.IOException as error:  # a long catalog write holds the lock: look again next tick
        return dg.SkipReason(f"the catalog is busy ({error}); trying again next tick")
    stale = [f for f in freshness if f.stale]
    summary = "; ".join(f"{f.variant}: {f.new_articles} new articles" for f in stale) or "none"
    threshold = retrain_policy.min_new_articles
    if threshold <= 0:
        return dg.SkipReason(
            f"retraining on new articles is off (BMW_RETRAIN_MIN_NEW_ARTICLES); stale models: {summary}"
        )
    # Only variants trained before: a first training is a deliberate backfill, not automation.
    due = [f for f in stale if f.trained_on is not None and f.new_articles >= threshold]
    if not due:
        return dg.SkipReason(f"no trained model lacks {threshold} or more new articles; stale models: {summary}")
    tags = {"bmw/dataset_version": due[0].newest}
    return [
        dg.RunRequest(
            f"retrain-{f.variant}-{f.newest[:16]}",
            partition_key=f.variant,
            tags={**tags, "bmw/retrain_new_articles": str(f.new_articles)},
        )  # fmt: skip
        for f in due
    ]


# Evaluates the declarative automation conditions (eval_report follows trained_model).
automation = dg.AutomationConditionSensorDefinition(
    "automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING
)
