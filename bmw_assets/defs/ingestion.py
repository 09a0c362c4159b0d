"""Data assets that bring press releases and their PDFs into the catalog."""

from dataclasses import asdict
from datetime import date

import dagster as dg
from pydantic import Field

from bmw_assets.defs.failure_checks import FailurePolicyResource, failure_rate_spec
from bmw_assets.defs.metadata import markdown_table
from bmw_assets.defs.resources import PressClubResource, StorageResource
from bmw_assets.stages.failure_rates import article_failure_rate, attachment_failure_rate
from bmw_assets.stages.ingestion import persistent_fetch_failures, update_article_index, update_raw_pdfs


class ArticleIndexConfig(dg.Config):
    target: int | None = Field(default=None, description="newest articles to index; default: the profile's")
    since: str | None = Field(default=None, description="ISO date; articles published before it are ignored")


@dg.asset(
    group_name="ingestion",
    kinds={"python", "duckdb"},
    pool="duckdb",
    check_specs=[failure_rate_spec("article_index")],
    description="Press releases found on the PressClub (rss2 feeds, detail pages as fallback), one row per "
    "article in the catalog table `articles`. Incremental: only new or changed articles are fetched; what "
    "could not be fetched stays in `fetch_failures` until a later run fetches it.",
)
def article_index(
    context: dg.AssetExecutionContext,
    config: ArticleIndexConfig,
    pressclub: PressClubResource,
    storage: StorageResource,
    failure_policy: FailurePolicyResource,
):  # no return annotation: with check specs Dagster would read it as the type of every output
    summary = update_article_index(
        pressclub.client_settings(),
        storage.layout.catalog_path,
        target=config.target or pressclub.default_target,
        since=date.fromisoformat(config.since) if config.since else None,
        progress=context.log.info,
    )
    for failure in summary.failures[:20]:
        context.log.warning(f"article failed: {failure}")
    for note in summary.notes:
        context.log.warning(note)
    persistent = persistent_fetch_failures(storage.layout.catalog_path)
    return dg.MaterializeResult(
        value=asdict(summary) | {"preview": None},
        metadata={
            "new": summary.new,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
            "failed": summary.failed,
            # The server asked to come back later than max_retry_after_s: fetched on the next run.
            "deferred": len(summary.deferred),
            "deferred_items": dg.MetadataValue.json(summary.deferred[:20]),
            "total_articles": summary.total,
            "requests": summary.stats.get("requests", 0),
            "retries": summary.stats.get("retries", 0),
            "retries_by_reason": dg.MetadataValue.json(summary.stats.get("retries_by_reason", {})),
            # Failing in 3 runs or more since they last succeeded (all failures: catalog table fetch_failures).
            "persistent_failures": dg.MetadataValue.json(persistent[:20]),
            "notes": dg.MetadataValue.json(summary.notes),
            "preview": markdown_table(summary.preview),
        },
        check_results=[
            failure_policy.check(article_failure_rate(summary.new, summary.updated, summary.failures), "articles")
        ],
    )


@dg.asset(
    group_name="ingestion",
    kinds={"python", "duckdb", "pdf"},
    pool="duckdb",
    check_specs=[failure_rate_spec("raw_pdfs")],
    description="PDF attachments of indexed articles, validated (%PDF header, every page intact, "
    "bounded inflation) and stored content-addressed as raw/pdfs/<sha256>.pdf; every outcome in the "
    "catalog table `attachments`. Failed and deferred downloads are tried again on the next run.",
)
def raw_pdfs(
    context: dg.AssetExecutionContext,
    article_index: dict,
    pressclub: PressClubResource,
    storage: StorageResource,
    failure_policy: FailurePolicyResource,
):  # no return annotation: with check specs Dagster would read it as the type of every output
    layout = storage.layout
    summary = update_raw_pdfs(
        pressclub.client_settings(), layout.catalog_path, layout.raw_pdf_dir, progress=context.log.info
    )
    for failure in summary.failures[:20]:
        context.log.warning(f"attachment not stored: {failure}")
    return dg.MaterializeResult(
        value=asdict(summary),
        metadata={
            "requested": summary.requested,
            "downloaded_ok": summary.ok,
            "not_pdf": summary.not_pdf,
            "failed": summary.failed,
            # The server asked to come back later than max_retry_after_s: downloaded on the next run.
            "deferred": summary.deferred,
            "deferred_items": dg.MetadataValue.json([f for f in summary.failures if f["status"] == "deferred"][:20]),
            "total_pdfs": summary.total_ok,
            "total_mb": round(summary.total_bytes / 1e6, 2),
            "retries": summary.stats.get("retries", 0),
            "retries_by_reason": dg.MetadataValue.json(summary.stats.get("retries_by_reason", {})),
            "stale_partials_removed": summary.stale_partials_removed,
            "pdf_dir": dg.MetadataValue.path(str(layout.raw_pdf_dir)),
        },
        check_results=[failure_policy.check(attachment_failure_rate(layout.catalog_path), "attachments")],
    )
