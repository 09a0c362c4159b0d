"""How many items of a data stage failed: the numbers behind the failure-rate asset checks.

An attachment fails when it could not be stored (status `failed`: HTTP, an HTML page instead
of the file, size cap, too slow, damaged PDF); an attachment that simply is no PDF (a photo,
a zip) is not a failure, nor is one deferred because the server asked to come back later. A regex text
fails when it has no text at all, or fell back to the HTML body because the article's
PDF could not be read (not because there was no PDF). Both count the catalog as it is,
so an item that failed once and was fetched later no longer counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bmw_assets.catalog import connect, failure_counts

EXAMPLES = 5  # failed items named in a check's metadata
NO_PDF_REASON = "no PDF attachment"  # the regex stage's reason for an article without any stored PDF


@dataclass
class FailureRate:
    """`failed` of `total` items; `examples` name a few failed ones with their reason."""

    failed: int
    total: int
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Share of failed items, 0..1 (0 when there are no items)."""
        return self.failed / self.total if self.total else 0.0


def article_failure_rate(new: int, updated: int, failures: list[dict[str, str]]) -> FailureRate:
    """Articles (and feeds) that could not be fetched in one `article_index` run, out of those
    it fetched or tried to (`new` + `updated` + failed); failures are ItemFailure dicts."""
    return FailureRate(len(failures), new + updated + len(failures), failures[:EXAMPLES])


def attachment_failure_rate(catalog_path: Path) -> FailureRate:
    """Attachments with status `failed` among all rows of the catalog's `attachments` table."""
    with connect(catalog_path) as con:
        return FailureRate(*failure_counts.failed_attachments(con, EXAMPLES))


def text_failure_rate(catalog_path: Path, stage: str = "regex") -> FailureRate:
    """Texts of `stage` that failed, or fell back to the HTML body although the article had a PDF
    that could be read (a PDF text a gate turned down is counted by `gated_share` instead)."""
    with connect(catalog_path) as con:
        return FailureRate(*failure_counts.failed_texts(con, stage, NO_PDF_REASON, EXAMPLES))


def gated_share(catalog_path: Path) -> FailureRate:
    """Regex texts that a text gate turned down (switched to the HTML body, or the article
    rejected) among all regex texts; examples name the gate, its score and the source used."""
    with connect(catalog_path) as con:
        return FailureRate(*failure_counts.gated_regex_texts(con, EXAMPLES))
