"""Discovering and fetching articles: rss2 feeds first, detail pages only where needed.

The global rss2 feed gives the newest articles with their full bodies; the
topic feeds are walked back to the same date to learn each article's topics
(an article appears under several). Detail pages are fetched only for new or
changed articles (for attachment links, category and teaser) or when the feed
body is missing; listing pages stand in when the global feed cannot be read.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as day_start

from bmw_assets.pressclub.address_guard import RefusedUrl, check_url
from bmw_assets.pressclub.article_body import body_sha256, body_text_from_fragment
from bmw_assets.pressclub.feed import DamagedItem, FeedItem, FeedPage, NotAFeed, parse_feed_page
from bmw_assets.pressclub.html_pages import (
    DetailPage,
    parse_detail_page,
    parse_listing_page,
)
from bmw_assets.pressclub.http_client import Deferred, FetchError, PoliteClient
from bmw_assets.pressclub.progress import ProgressReporter
from bmw_assets.pressclub.records import (
    ArticleRecord,
    FetchResult,
    ItemFailure,
    TransferStats,
)
from bmw_assets.pressclub.settings import ClientSettings
from bmw_assets.pressclub.urls import (
    article_id_from_detail_url,
    detail_url,
    feed_url,
    language_of,
    rebase_next_link,
)

_OLDEST = datetime.min.replace(tzinfo=UTC)
CATEGORY_NAMES = {"1": "Press Release", "2": "Press Kit", "5": "Speech", "11": "Facts & Figures"}


@dataclass
class _Candidate:
    """An article seen in a feed or listing, before its detail page (if any) is read."""

    id: str
    title: str | None
    link: str | None
    published_at: datetime | None
    body_text: str
    topics: list[str] = field(default_factory=list)
    teaser: str | None = None
    category: str | None = None

    @property
    def sort_key(self) -> tuple[datetime, str]:
        return (self.published_at or _OLDEST, self.id)


def _since_start(since: date | None) -> datetime | None:
    return datetime.combine(since, day_start.min, tzinfo=UTC) if since else None


async def _walk_feed(
    client: PoliteClient,
    start_url: str,
    name: str,
    enough: Callable[[list[FeedItem]], bool | Awaitable[bool]],
    failures: list[ItemFailure],
    on_page: Callable[[list[FeedItem]], None] | None = None,
    damaged: list[DamagedItem] | None = None,
) -> list[FeedItem]:
    """Items of a feed, page by page along rel=next, until `enough(items)`, the end, or a failure.

    Items that are not well-formed are recorded in `failures` (one entry per page) and in
    `damaged`; one that still names its article id stays among the items, without body.

    Past the last page the site answers with something that is not XML; a
    page that is merely malformed once would end the walk early, so a non-XML
    answer is fetched a second time before it is taken as the end. A page
    shorter than the first one is the last (pages are full until the end).
    `on_page(page_items)` is called as each page arrives.
    """
    items: list[FeedItem] = []
    page_size = 0
    url: str | None = start_url
    visited: set[str] = set()
    while url and url not in visited:
        visited.add(url)
        try:
            page = await _read_feed_page(client, url)
        except (FetchError, RefusedUrl) as error:
            failures.append(ItemFailure(item=name, url=url, reason=str(error)))
            break
        if page is None or not (page.items or page.damaged):
            break
        if page.damaged:
            failures.append(
                ItemFailure(
                    item=name,
                    url=url,
                    reason="; ".join(
                        f"item {d.position} ({d.id or 'no article id'}) is not well-formed XML: {d.error}"
                        for d in page.damaged
                    ),
                )
            )
            if damaged is not None:
                damaged.extend(page.damaged)
        items.extend(page.items)
        if on_page:
            on_page(page.items)
        # A damaged item without an id still took its place: the page was full.
        length = len(page.items) + sum(d.id is None for d in page.damaged)
        page_size = page_size or length
        done = enough(items)
        if (await done if inspect.isawaitable(done) else done) or length < page_size:
            break
        url = rebase_next_link(page.next_href, url) if page.next_href else None
    return items


async def _read_feed_page(client: PoliteClient, url: str) -> FeedPage | None:
    for _ in range(2):
        body = (await client.get_page(url, "rss")).body
        try:
            return parse_feed_page(body)
        except NotAFeed:
            continue
    return None


def _older_than(items: list[FeedItem], cutoff: datetime | None) -> bool:
    return cutoff is not None and any(i.published_at is not None and i.published_at < cutoff for i in items)


async def _discover(
    client: PoliteClient,
    target: int,
    since: date | None,
    failures: list[ItemFailure],
    progress: Callable[[str], None] | None,
    on_candidate: Callable[[_Candidate], None],
    notes: list[str],
) -> list[_Candidate]:
    """The newest `target` articles (not older than `since`), deduplicated, topics collected.
    A global feed that ends before `target` articles (and before `since`) is noted in `notes`.

    `on_candidate` sees each global-feed article that is surely kept (among the
    first `target`, not older than `since`) as soon as its page arrives, so
    detail pages can be fetched while the topic feeds are still being read.
    """
    base = client.settings.base_url
    since_at = _since_start(since)
    feed_failures: list[ItemFailure] = []
    candidates: dict[str, _Candidate] = {}

    def take(page_items: list[FeedItem]) -> None:
        for item in page_items:
            if item.id in candidates or len(candidates) >= target:
                continue
            candidates[item.id] = candidate = _candidate_from_feed(item)
            if since_at is None or candidate.published_at is None or candidate.published_at >= since_at:
                on_candidate(candidate)

    # Topic feeds start with the global one; past their first page they wait for
    # the global walk to fix the cutoff: the oldest article we keep (or `since`).
    global_done = asyncio.Event()
    cutoff: datetime | None = None

    async def topic_enough(items: list[FeedItem]) -> bool:
        await global_done.wait()
        return _older_than(items, cutoff)

    topic_walking = asyncio.gather(
        *(
            _walk_feed(client, feed_url(base, topic), f"rss2/topic/{topic}", topic_enough, failures)
            for topic in client.settings.topics
        )
    )

    def global_enough(items: list[FeedItem]) -> bool:
        return len({i.id for i in items}) >= target or _older_than(items, since_at)

    damaged: list[DamagedItem] = []
    try:
        global_items = await _walk_feed(
            client, feed_url(base), "rss2", global_enough, feed_failures, on_page=take, damaged=damaged
        )
        if not feed_failures and not global_enough(global_items):
            notes.append(
                f"the rss2 feed ended after {len({i.id for i in global_items})} articles, before the "
                f"{target} asked for: either the site has no more, or it cut the feed short"
            )
        failures.extend(feed_failures)
        if not candidates and feed_failures:
            candidates.update(await _discover_by_listing(client, target, failures))
        elif any(d.id is None for d in damaged):  # an article the feed lost: the listing names it
            for article_id, listed in (await _discover_by_listing(client, target, failures)).items():
                candidates.setdefault(article_id, listed)
        newest = sorted(candidates.values(), key=lambda c: c.sort_key, reverse=True)[:target]
        cutoff = newest[-1].published_at if len(newest) >= target and newest[-1].published_at else since_at
    finally:
        global_done.set()
    topic_walks = await topic_walking
    for topic, items in zip(client.settings.topics, topic_walks, strict=True):
        for item in items:
            if cutoff is not None and item.published_at is not None and item.published_at < cutoff:
                continue
            candidate = candidates.setdefault(item.id, _candidate_from_feed(item))
            if str(topic) not in candidate.topics:
                candidate.topics.append(str(topic))
    selected = [
        c for c in sorted(candidates.values(), key=lambda c: c.sort_key, reverse=True)
        if since_at is None or c.published_at is None or c.published_at >= since_at
    ][:target]  # fmt: skip
    if progress:
        progress(f"discovery: {len(selected)} articles selected from {len(candidates)} seen in feeds")
    return selected


def _candidate_from_feed(item: FeedItem) -> _Candidate:
    return _Candidate(
        id=item.id,
        title=item.title or None,
        link=item.link or None,
        published_at=item.published_at,
        body_text=body_text_from_fragment(item.description_html),
    )


async def _discover_by_listing(client: PoliteClient, target: int, failures: list[ItemFailure]) -> dict[str, _Candidate]:
    """Fallback when the global feed is unreadable: the listing page's items (no bodies, topics from tags)."""
    url = f"{client.settings.base_url}/article"
    try:
        page = await client.get_page(url, "listing")
    except (FetchError, RefusedUrl) as error:
        failures.append(ItemFailure(item="listing", url=url, reason=str(error)))
        return {}
    candidates: dict[str, _Candidate] = {}
    for entry in parse_listing_page(page.body, page.url)[:target]:
        published = datetime.combine(entry.published_on, day_start.min, tzinfo=UTC) if entry.published_on else None
        candidates.setdefault(
            entry.id,
            _Candidate(
                id=entry.id,
                title=entry.title,
                link=entry.url,
                published_at=published,
                body_text="",
                topics=list(entry.topics),
                teaser=entry.teaser,
                category=entry.category or CATEGORY_NAMES.get(entry.category_code or ""),
            ),
        )
    return candidates


def _detail_page_url(client: PoliteClient, candidate: _Candidate) -> str:
    """The feed's link when it is an on-site detail URL; otherwise the slug-less URL on the base."""
    s = client.settings
    if candidate.link and article_id_from_detail_url(candidate.link) == candidate.id:
        try:
            check_url(candidate.link, s.allowed_origins, s.allow_private_addresses)
            return candidate.link
        except RefusedUrl:
            client.stats.count_refusal("offsite_link")
    return detail_url(s.base_url, candidate.id)


def _is_whole_html(body: bytes) -> bool:
    """A detail page cut mid-document would silently lose its attachment links."""
    return b"</html>" in body[-4096:].lower()


async def _fetch_detail(client: PoliteClient, candidate: _Candidate) -> tuple[str, DetailPage | ItemFailure | Deferred]:
    """(url, parsed detail page), or (url, failure) when it cannot be had, or (url, deferral)
    when the server asked to come back later than the client waits."""
    url = _detail_page_url(client, candidate)
    try:
        page = await client.get_page(url, "detail", complete=_is_whole_html)
        return url, parse_detail_page(page.body, page.url)
    except Deferred as deferral:
        return url, deferral
    except (FetchError, RefusedUrl) as error:
        return url, ItemFailure(item=candidate.id, url=url, reason=str(error))


def _record(client: PoliteClient, candidate: _Candidate, detail: DetailPage, body: str, url: str) -> ArticleRecord:
    s = client.settings
    attachments = []
    for link in detail.attachment_urls:
        try:
            check_url(link, s.allowed_origins, s.allow_private_addresses)
            attachments.append(link)
        except RefusedUrl:
            client.stats.count_refusal("offsite_link")
    published = candidate.published_at
    if published is None and detail.published_on:
        published = datetime.combine(detail.published_on, day_start.min, tzinfo=UTC)
    return ArticleRecord(
        id=candidate.id,
        language=language_of(candidate.id),
        url=url,
        title=candidate.title or detail.title or "",
        published_at=published,
        category=detail.category or candidate.category,
        topics=candidate.topics or list(detail.topics),
        teaser=detail.teaser or candidate.teaser,
        body_text=body,
        body_sha256=body_sha256(body),
        attachment_urls=attachments,
    )


async def _fetch_articles(
    settings: ClientSettings,
    target: int,
    since: date | None,
    known: Mapping[str, str],
    progress: Callable[[str], None] | None,
) -> FetchResult:
    started = time.monotonic()
    stats, failures = TransferStats(), []
    reporter = ProgressReporter(
        "detail pages", target, progress, settings.progress_every_items, settings.progress_every_s
    )

    def unchanged(candidate: _Candidate) -> bool:
        return bool(candidate.body_text) and known.get(candidate.id) == body_sha256(candidate.body_text)

    async with PoliteClient(settings, stats) as client:
        details: dict[str, asyncio.Task] = {}

        async def fetch_detail(candidate: _Candidate) -> tuple[str, DetailPage | ItemFailure | Deferred]:
            fetched = await _fetch_detail(client, candidate)
            reporter.advance()
            return fetched

        def start_detail(candidate: _Candidate) -> None:
            if not unchanged(candidate) and candidate.id not in details:
                details[candidate.id] = asyncio.create_task(fetch_detail(candidate))

        notes: list[str] = []
        selected = await _discover(client, target, since, failures, progress, start_detail, notes)
        for candidate in selected:
            start_detail(candidate)
        reporter.total = len(details)
        fetched = dict(zip(details, await asyncio.gather(*details.values()), strict=True))
        reporter.finish()
    records: list[ArticleRecord] = []
    deferred: list[ItemFailure] = []
    for candidate in selected:
        if candidate.id not in fetched:
            continue
        url, detail = fetched[candidate.id]
        if isinstance(detail, Deferred):
            deferred.append(ItemFailure(candidate.id, url, str(detail)))
        elif isinstance(detail, ItemFailure):
            failures.append(detail)
        elif not (body := candidate.body_text or detail.body_text):
            failures.append(ItemFailure(candidate.id, url, "no body text in the rss2 item nor on the detail page"))
        else:
            records.append(_record(client, candidate, detail, body, url))
    stats.seconds = time.monotonic() - started
    return FetchResult(
        new=[r for r in records if r.id not in known],
        updated=[r for r in records if r.id in known and known[r.id] != r.body_sha256],
        unchanged_ids=[c.id for c in selected if c.id not in fetched]
        + [r.id for r in records if r.id in known and known[r.id] == r.body_sha256],
        failures=failures,
        stats=stats,
        notes=notes,
        deferred=deferred,
    )


def fetch_articles(
    settings: ClientSettings,
    target: int,
    since: date | None = None,
    known: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> FetchResult:
    """Fetch the newest `target` articles published on or after `since` (a date, UTC days).

    known: article id -> body_sha256 already stored; those whose feed body has
    the same hash land in `unchanged_ids` without any further request. Others
    are completed from their detail page (attachment URLs, category, teaser)
    and returned as `new` (id not in known) or `updated` (hash differs).
    Articles that could not be fetched are listed in `failures` and left out; those whose
    server asked to come back later than `settings.max_retry_after_s` in `deferred` (left
    out too, and fetched as new on the next run).
    """
    if target < 1:
        raise ValueError(f"target={target} must be at least 1 article")
    return asyncio.run(_fetch_articles(settings, target, since, known or {}, progress))


async def _newest_article_ids(settings: ClientSettings, pages: int) -> list[tuple[str, datetime]]:
    stats, failures = TransferStats(), []
    async with PoliteClient(settings, stats) as client:
        walked: list[int] = []

        def enough(items: list[FeedItem]) -> bool:
            walked.append(1)
            return len(walked) >= pages

        items = await _walk_feed(client, feed_url(settings.base_url), "rss2", enough, failures)
    if failures and not items:
        raise FetchError(f"could not read the global rss2 feed: {failures[0].reason}")
    return list({i.id: (i.id, i.published_at or _OLDEST) for i in items}.values())


def newest_article_ids(settings: ClientSettings, pages: int = 1) -> list[tuple[str, datetime]]:
    """(article id, published_at) from the first `pages` pages of the global rss2 feed, newest first.

    Raises FetchError when the feed cannot be read at all (for the sensor to skip a tick).
    """
    return asyncio.run(_newest_article_ids(settings, pages))
