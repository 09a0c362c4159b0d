"""A polite, guarded HTTP client for the PressClub on aiohttp.

Every request goes through the same gate: the URL must be on an allowed host
(each redirect hop too: redirects are followed by hand), robots.txt must allow
it, and a per-host token bucket paces it. Failures that are worth another try
(5xx, 429, timeouts, connection resets, truncated bodies) are retried with
exponential backoff and jitter, waiting at least what Retry-After asks, up to
`max_retry_after_s`; a server that asks for longer gets the item deferred (`Deferred`).
Every body is read under a deadline and a minimum average rate, so a server that
drips bytes cannot hold a run.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import aiohttp
from protego import Protego

from bmw_assets.pressclub.address_guard import GuardedResolver, RefusedUrl, check_url
from bmw_assets.pressclub.rate_limit import TokenBucket
from bmw_assets.pressclub.records import TransferStats
from bmw_assets.pressclub.settings import ClientSettings

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_PAGE_BYTES = 32 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
HEAD_BYTES = 16  # kept of each saved body, to tell a PDF, a photo and an HTML page apart

T = TypeVar("T")


class FetchError(Exception):
    """A request that failed for good (after retries, or with a status not worth retrying)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TooLarge(FetchError):
    """The body grew past the byte cap; the transfer was aborted."""


class TooSlow(FetchError):
    """The body overran its deadline or arrived below the minimum rate; the transfer was abandoned."""


class Deferred(FetchError):
    """The server asked to come back later than `max_retry_after_s`: not a failure, the item waits
    for the next run. `retry_after_s`: what the server asked for, seconds."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)  # no status: robots.txt deferred is not "no robots.txt"
        self.retry_after_s = retry_after_s


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retry_after_s = reason, retry_after_s


@dataclass(frozen=True)
class Page:
    """A fetched page: the final URL after redirects, and the body bytes."""

    url: str
    body: bytes


@dataclass(frozen=True)
class SavedBody:
    """A body streamed to a file: final URL, size in bytes, sha256 hex, first bytes (for magic checks)."""

    url: str
    bytes: int
    sha256: str
    head: bytes


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds to wait (delta-seconds or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


async def _paced_chunks(response: aiohttp.ClientResponse, url: str, settings: ClientSettings) -> AsyncIterator[bytes]:
    """The body's chunks; raises TooSlow past `body_deadline_s` or below `min_bytes_per_s` on
    average (checked once `rate_grace_s` have passed), both counted from the headers."""
    started, received = time.monotonic(), 0
    deadline = settings.body_deadline_s
    timer = asyncio.timeout(deadline)
    try:
        async with timer:
            async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                received += len(chunk)
                elapsed = time.monotonic() - started
                if elapsed > settings.rate_grace_s and received / elapsed < settings.min_bytes_per_s:
                    raise TooSlow(
                        f"{url} arrived at {received / elapsed:.0f} bytes/s after {elapsed:.1f} s, "
                        f"below min_bytes_per_s={settings.min_bytes_per_s:g}"
                    )
                yield chunk
    except TimeoutError as error:
        if not timer.expired():  # the read timeout between two chunks: retried like any timeout
            raise
        raise TooSlow(f"{url} did not arrive within body_deadline_s={deadline:g} s ({received} bytes)") from error


class PoliteClient:
    """Use as `async with PoliteClient(settings, stats) as client:`; then `get_page` / `save_body`."""

    def __init__(self, settings: ClientSettings, stats: TransferStats) -> None:
        self.settings = settings
        self.stats = stats
        self._buckets: dict[str, TokenBucket] = {}
        self._robots: dict[str, Protego] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PoliteClient:
        s = self.settings
        connector = aiohttp.TCPConnector(
            limit=s.max_connections,
            limit_per_host=s.max_connections,
            resolver=GuardedResolver(s.allow_private_addresses),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=s.timeout_s, sock_read=s.timeout_s),
            headers={"User-Agent": s.user_agent},
            trust_env=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def get_page(self, url: str, kind: str, complete: Callable[[bytes], bool] | None = None) -> Page:
        """GET a page (HTML or XML) of at most 32 MiB; raises FetchError / RefusedUrl.

        `complete(body)` may say a 200 answer was cut short; it is then retried like a 5xx.
        """

        async def read(response: aiohttp.ClientResponse, final_url: str) -> Page:
            body = bytearray()
            # aclosing: a reader that stops early also ends the generator's deadline timer.
            async with aclosing(_paced_chunks(response, final_url, self.settings)) as chunks:
                async for chunk in chunks:
                    body += chunk
                    self.stats.bytes += len(chunk)
                    if len(body) > MAX_PAGE_BYTES:
                        raise TooLarge(f"{final_url} is larger than {MAX_PAGE_BYTES} bytes")
            if complete is not None and not complete(bytes(body)):
                raise _Retryable(f"incomplete_{kind}")
            return Page(url=final_url, body=bytes(body))

        return await self._with_retries(url, kind, read)

    async def save_body(self, url: str, kind: str, path: Path, max_bytes: int) -> SavedBody:
        """Stream a body into `path` (overwritten per attempt), hashing on the way; abort past `max_bytes`."""

        async def read(response: aiohttp.ClientResponse, final_url: str) -> SavedBody:
            declared = response.content_length
            if declared is not None and declared > max_bytes:
                raise TooLarge(f"{final_url} declares {declared} bytes, more than max_download_bytes={max_bytes}")
            digest, size, head = hashlib.sha256(), 0, b""
            with open(path, "wb") as handle:
                async with aclosing(_paced_chunks(response, final_url, self.settings)) as chunks:
                    async for chunk in chunks:
                        size += len(chunk)
                        self.stats.bytes += len(chunk)
                        if size > max_bytes:
                            raise TooLarge(f"{final_url} is larger than max_download_bytes={max_bytes}")
                        if len(head) < HEAD_BYTES:
                            head = (head + chunk)[:HEAD_BYTES]
                        digest.update(chunk)
                        handle.write(chunk)
            return SavedBody(url=final_url, bytes=size, sha256=digest.hexdigest(), head=head)

        return await self._with_retries(url, kind, read)

    async def _with_retries(
        self, url: str, kind: str, read: Callable[[aiohttp.ClientResponse, str], Awaitable[T]]
    ) -> T:
        s = self.settings
        for attempt in range(s.max_retries + 1):
            try:
                return await self._attempt(url, kind, read)
            except _Retryable as error:
                reason, retry_after = error.reason, error.retry_after_s
            except TimeoutError:
                reason, retry_after = "timeout", None
            except aiohttp.ClientPayloadError:
                reason, retry_after = "truncated_body", None
            except aiohttp.ClientConnectionError:
                reason, retry_after = "connection_error", None
            if retry_after is not None and retry_after > s.max_retry_after_s:
                raise Deferred(
                    f"GET {url}: the server asks to retry after {retry_after:.0f} s, longer than "
                    f"max_retry_after_s={s.max_retry_after_s:g}: deferred to the next run",
                    retry_after,
                )
            if attempt == s.max_retries:
                raise FetchError(f"GET {url} failed {attempt + 1} times, last: {reason}")
            backoff = min(s.backoff_max_s, s.backoff_base_s * 2**attempt) * random.uniform(0.5, 1.5)
            self.stats.count_retry(reason)
            await asyncio.sleep(max(backoff, retry_after or 0.0))
        raise AssertionError("unreachable")

    async def _attempt(self, url: str, kind: str, read: Callable[[aiohttp.ClientResponse, str], Awaitable[T]]) -> T:
        assert self._session is not None, "use PoliteClient as an async context manager"
        current = url
        for _ in range(self.settings.max_redirects + 1):
            await self._admit(current)
            self.stats.count_request(kind)
            async with self._session.get(current, allow_redirects=False) as response:
                if response.status in REDIRECT_STATUSES:
                    location = response.headers.get("Location")
                    if not location:
                        raise FetchError(f"{current} answered {response.status} without a Location header")
                    current = urljoin(current, location)
                    continue
                if response.status in RETRY_STATUSES:
                    raise _Retryable(
                        f"http_{response.status}", retry_after_seconds(response.headers.get("Retry-After"))
                    )
                if response.status != 200:
                    raise FetchError(f"GET {current} answered HTTP {response.status}", status=response.status)
                return await read(response, current)
        raise FetchError(f"GET {url} redirected more than {self.settings.max_redirects} times")

    async def _admit(self, url: str) -> None:
        """Refuse off-site/private URLs and robots.txt-disallowed paths; then wait for the host's token."""
        s = self.settings
        try:
            check_url(url, s.allowed_origins, s.allow_private_addresses)
            if s.obey_robots and urlsplit(url).path != "/robots.txt":
                rules = await self._robots_rules(url)
                if not rules.can_fetch(url, s.user_agent):
                    raise RefusedUrl(url, "robots.txt disallows it for this user agent", "robots")
        except RefusedUrl as refusal:
            self.stats.count_refusal(refusal.rule)
            raise
        await self._bucket(urlsplit(url).netloc).acquire()

    def _bucket(self, netloc: str) -> TokenBucket:
        if netloc not in self._buckets:
            rate = self.settings.requests_per_second
            self._buckets[netloc] = TokenBucket(rate=rate, capacity=max(1.0, min(rate, 8.0)))
        return self._buckets[netloc]

    async def _robots_rules(self, url: str) -> Protego:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        lock = self._robots_locks.setdefault(origin, asyncio.Lock())
        async with lock:
            if origin not in self._robots:
                self._robots[origin] = await self._load_robots(origin, parts.netloc)
        return self._robots[origin]

    async def _load_robots(self, origin: str, netloc: str) -> Protego:
        """RFC 9309 (longest match wins): 4xx means no rules; 401/403 and unreachable mean disallow all."""
        try:
            page = await self.get_page(origin + "/robots.txt", "robots")
        except FetchError as error:
            no_rules = error.status is not None and 400 <= error.status < 500 and error.status not in (401, 403)
            return Protego.parse("" if no_rules else "User-agent: *\nDisallow: /\n")
        rules = Protego.parse(page.body.decode("utf-8", "replace"))
        delay = rules.crawl_delay(self.settings.user_agent) or 0.0
        rate = rules.request_rate(self.settings.user_agent)
        floor_s = max(float(delay), rate.seconds / rate.requests if rate and rate.requests else 0.0)
        if floor_s > 0 and self.settings.obey_crawl_delay:
            self._bucket(netloc).slow_to(1.0 / floor_s)
        return rules
