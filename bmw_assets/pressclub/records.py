"""What the client hands back: rows shaped like the catalog tables, failures and transfer stats."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class ArticleRecord:
    """One article, the `articles` catalog columns except first_seen_at/fetched_at."""

    id: str
    language: str
    url: str
    title: str
    published_at: datetime | None
    category: str | None
    topics: list[str]
    teaser: str | None
    body_text: str
    body_sha256: str
    attachment_urls: list[str]


@dataclass
class AttachmentRecord:
    """One download outcome, the `attachments` catalog columns except fetched_at.

    status: ok (a parsable PDF stored at `path`), not_pdf (a file without the %PDF magic: a photo,
    a zip), failed (`error` says why; tried again next run) or deferred (the server asked to come
    back later than the client waits; tried again next run, not counted as a failure).
    bytes: size of what was received; pages: PDF page count when status is ok.
    """

    article_id: str
    url: str
    sha256: str | None
    path: str | None
    bytes: int | None
    pages: int | None
    status: str
    error: str | None


@dataclass
class ItemFailure:
    """Something that could not be fetched: `item` is an article id or a feed name."""

    item: str
    url: str
    reason: str


@dataclass
class TransferStats:
    """Counts for one client run: requests sent (by kind), retries by reason, bytes received, seconds."""

    requests: int = 0
    requests_by_kind: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    retries_by_reason: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    seconds: float = 0.0

    def count_request(self, kind: str) -> None:
        self.requests += 1
        self.requests_by_kind[kind] = self.requests_by_kind.get(kind, 0) + 1

    def count_retry(self, reason: str) -> None:
        self.retries += 1
        self.retries_by_reason[reason] = self.retries_by_reason.get(reason, 0) + 1

    def count_refusal(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1


@dataclass
class FetchResult:
    """new: articles not in `known`; updated: body hash changed; unchanged_ids: same hash, not re-fetched."""

    new: list[ArticleRecord]
    updated: list[ArticleRecord]
    unchanged_ids: list[str]
    failures: list[ItemFailure]
    stats: TransferStats
    notes: list[str] = field(default_factory=list)  # what went unusually without losing an article
    deferred: list[ItemFailure] = field(default_factory=list)  # the server asked to come back later


@dataclass
class DownloadResult:
    records: list[AttachmentRecord]
    stats: TransferStats
