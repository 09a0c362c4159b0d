"""Downloading attachments into a content-addressed store: `<dest>/<sha256>.pdf`.

File names come only from the content hash, never from titles or URLs. Each
body is streamed to a temp file in the destination folder (aborted past the
size cap), checked for the `%PDF` magic and for parsing with pypdf (in a
daemon thread, with a time cap: a parse that overruns it is abandoned, never
waited for), and then renamed into place; an identical file already stored is
left untouched.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pypdf import PageObject, PdfReader
from pypdf.generic import ArrayObject, StreamObject

from bmw_assets.pressclub.address_guard import RefusedUrl
from bmw_assets.pressclub.http_client import FetchError, PoliteClient
from bmw_assets.pressclub.progress import ProgressReporter
from bmw_assets.pressclub.records import AttachmentRecord, DownloadResult, TransferStats
from bmw_assets.pressclub.settings import ClientSettings


def _content_streams(page: PageObject) -> list[StreamObject]:
    contents = page.get_object().get("/Contents")
    contents = contents.get_object() if contents is not None else None
    if contents is None:
        return []
    return [c.get_object() for c in contents] if isinstance(contents, ArrayObject) else [contents]


def pdf_page_count(path: Path) -> int:
    """Pages of a complete, readable PDF; raises ValueError when it is truncated or damaged.

    pypdf quietly recovers from broken compressed data, so each page's
    Flate-compressed content stream is also inflated strictly with zlib: a
    garbled transfer is caught here rather than as garbage text later.
    """
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 1024))
        if b"%%EOF" not in handle.read():
            raise ValueError("no %%EOF marker at the end: the PDF is truncated")
    reader = PdfReader(path, strict=False)
    if len(reader.pages) == 0:
        raise ValueError("the PDF has no pages")
    for number, page in enumerate(reader.pages, start=1):
        for stream in _content_streams(page):
            filters = stream.get("/Filter")
            filters = list(filters) if isinstance(filters, ArrayObject) else [filters]
            if filters == ["/FlateDecode"]:
                try:
                    zlib.decompress(stream._data)  # the raw bytes; get_data() would recover quietly
                except zlib.error as error:
                    raise ValueError(f"page {number}: content stream does not inflate ({error})") from error
    return len(reader.pages)


async def _in_daemon_thread(function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args)` in a daemon thread. Unlike asyncio.to_thread, a call that outlives the
    caller's time cap is left behind: neither asyncio.run's executor shutdown nor the
    interpreter's exit waits for it."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if not future.done():  # cancelled when the caller's time cap ran out
            future.set_exception(error) if error is not None else future.set_result(result)

    def run() -> None:
        try:
            outcome: tuple[Any, BaseException | None] = (function(*args), None)
        except BaseException as error:  # handed to the awaiting coroutine
            outcome = (None, error)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the event loop is closed: nobody waits any more
            pass

    threading.Thread(target=run, daemon=True, name="pdf-check").start()
    return await future


async def _checked_pages(path: Path, timeout_s: float) -> tuple[int | None, str | None]:
    try:
        return await asyncio.wait_for(_in_daemon_thread(pdf_page_count, path), timeout_s), None
    except asyncio.TimeoutError:
        return None, f"pypdf did not finish parsing within {timeout_s} s"
    except Exception as error:  # pypdf raises many types on damaged files; all mean "not usable"
        return None, f"pypdf cannot read it: {type(error).__name__}: {error}"


PARTIAL_PREFIX, PARTIAL_SUFFIX = ".download-", ".part"
# A download in progress rewrites its partial file continuously; one untouched this long was
# left by a killed run (a run going on beside this one keeps its files fresh).
STALE_PARTIAL_S = 3600.0


def remove_stale_partials(dest_dir: Path, older_than_s: float = STALE_PARTIAL_S) -> int:
    """Delete partial downloads in `dest_dir` untouched for `older_than_s` seconds; how many."""
    cutoff = time.time() - older_than_s
    removed = 0
    for path in Path(dest_dir).glob(f"{PARTIAL_PREFIX}*{PARTIAL_SUFFIX}"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # its own run finished with it meanwhile
            pass
    return removed


async def _download(client: PoliteClient, url: str, dest_dir: Path) -> tuple[str | None, int | None, int | None, str, str | None]:
    """(sha256, bytes, pages, status, error) for one URL; the PDF is stored when status is ok."""
    fd, tmp_name = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX, dir=dest_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            saved = await client.save_body(url, "attachment", tmp, client.settings.max_download_bytes)
        except (FetchError, RefusedUrl) as error:
            return None, None, None, "failed", str(error)
        if not saved.head.startswith(b"%PDF"):
            return saved.sha256, saved.bytes, None, "not_pdf", f"starts with {saved.head!r}, not the %PDF magic"
        pages, problem = await _checked_pages(tmp, client.settings.pdf_parse_timeout_s)
        if problem:
            return saved.sha256, saved.bytes, None, "failed", problem
        final = dest_dir / f"{saved.sha256}.pdf"
        if not (final.exists() and final.stat().st_size == saved.bytes):
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        return saved.sha256, saved.bytes, pages, "ok", None
    finally:
        tmp.unlink(missing_ok=True)


async def _download_attachments(
    settings: ClientSettings, items: Sequence[tuple[str, str]], dest_dir: Path, progress: Callable[[str], None] | None
) -> DownloadResult:
    started = time.monotonic()
    dest_dir.mkdir(parents=True, exist_ok=True)
    stats = TransferStats()
    by_url: dict[str, list[str]] = {}
    for article_id, url in items:
        by_url.setdefault(url, []).append(article_id)
    reporter = ProgressReporter("attachments", len(by_url), progress, settings.progress_every_items, settings.progress_every_s)
    records: list[AttachmentRecord] = []
    async with PoliteClient(settings, stats) as client:

        async def one(url: str, article_ids: list[str]) -> None:
            sha, size, pages, status, error = await _download(client, url, dest_dir)
            path = str(dest_dir / f"{sha}.pdf") if status == "ok" else None
            records.extend(AttachmentRecord(a, url, sha, path, size, pages, status, error) for a in article_ids)
            reporter.advance()

        await asyncio.gather(*(one(url, ids) for url, ids in by_url.items()))
    reporter.finish()
    stats.seconds = time.monotonic() - started
    order = {pair: i for i, pair in enumerate(items)}
    records.sort(key=lambda r: order.get((r.article_id, r.url), 0))
    return DownloadResult(records=records, stats=stats)


def download_attachments(
    settings: ClientSettings,
    items: Sequence[tuple[str, str]],
    dest_dir: Path,
    progress: Callable[[str], None] | None = None,
) -> DownloadResult:
    """Download (article_id, url) pairs concurrently into `dest_dir/<sha256>.pdf`.

    One AttachmentRecord per pair: status ok (stored, `pages` counted), not_pdf
    (no %PDF magic; nothing stored) or failed (`error` says why: HTTP, size cap
    of `settings.max_download_bytes` bytes, refused URL, unreadable PDF).
    A URL listed under several articles is downloaded once.
    """
    return asyncio.run(_download_attachments(settings, items, Path(dest_dir), progress))
