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
import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pypdf import PageObject, PdfReader
from pypdf.generic import ArrayObject, IndirectObject, NullObject, StreamObject

from bmw_assets.pdf_limits import DEFAULT_MAX_INFLATED_BYTES, InflateBudget, bounded_pypdf
from bmw_assets.pressclub.address_guard import RefusedUrl
from bmw_assets.pressclub.http_client import Deferred, FetchError, PoliteClient
from bmw_assets.pressclub.progress import ProgressReporter
from bmw_assets.pressclub.records import AttachmentRecord, DownloadResult, TransferStats
from bmw_assets.pressclub.settings import ClientSettings


def _resolved(value: Any) -> Any:
    """The object an entry points at; None when a reference leads nowhere (a damaged object)."""
    value = value.get_object() if isinstance(value, IndirectObject) else value
    return None if value is None or isinstance(value, NullObject) else value


def _content_streams(page: PageObject, number: int) -> list[StreamObject]:
    """The page's content streams; ValueError when the page object or a stream it names is damaged."""
    contents = page.get("/Contents")
    if contents is None:
        raise ValueError(f"page {number} has no content stream (a damaged page object)")
    contents = _resolved(contents)
    streams = [_resolved(c) for c in contents] if isinstance(contents, ArrayObject) else [contents]
    if not streams or not all(isinstance(s, StreamObject) for s in streams):
        raise ValueError(f"page {number}: its content stream is missing or damaged")
    if "/Resources" in page and _resolved(page["/Resources"]) is None:
        raise ValueError(f"page {number}: its resources (fonts) are missing or damaged")
    return streams


def pdf_page_count(path: Path, max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES) -> int:
    """Pages of a complete, readable PDF; raises ValueError when it is truncated or damaged.

    pypdf quietly reads past damage (a page object or content stream that is garbage, a
    page missing from the page tree), so every page is checked here: the page tree holds
    as many pages as it declares, each page names resources that exist and content streams
    that exist, and each Flate-compressed content stream inflates strictly with zlib, all
    of them together to at most `max_inflated_bytes` (a deflate bomb is refused, not inflated).
    """
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 1024))
        if b"%%EOF" not in handle.read():
            raise ValueError("no %%EOF marker at the end: the PDF is truncated")
    with bounded_pypdf(max_inflated_bytes):
        reader = PdfReader(path, strict=False)
        pages = len(reader.pages)
        if pages == 0:
            raise ValueError("the PDF has no pages")
        declared = _resolved(_resolved(reader.trailer["/Root"]).get("/Pages")).get("/Count")
        if declared != pages:
            raise ValueError(
                f"the page tree declares {declared} pages but {pages} can be read: a page object is damaged"
            )
        budget = InflateBudget(max_inflated_bytes)
        for number, page in enumerate(reader.pages, start=1):
            for stream in _content_streams(page, number):
                filters = stream.get("/Filter")
                filters = list(filters) if isinstance(filters, ArrayObject) else [filters]
                if filters == ["/FlateDecode"]:
                    budget.inflate(stream._data, f"page {number}")  # raw bytes; get_data() recovers quietly
    return pages


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


async def _checked_pages(path: Path, timeout_s: float, max_inflated_bytes: int) -> tuple[int | None, str | None]:
    try:
        return await asyncio.wait_for(_in_daemon_thread(pdf_page_count, path, max_inflated_bytes), timeout_s), None
    except TimeoutError:
        return None, f"pypdf did not finish parsing within {timeout_s} s"
    except Exception as error:  # pypdf raises many types on damaged files; all mean "not usable"
        return None, f"pypdf cannot read it: {type(error).__name__}: {error}"


PARTIAL_PREFIX, PARTIAL_SUFFIX = ".download-", ".part"
# While another run downloads, only partial files untouched this long are surely left over.
STALE_PARTIAL_S = 3600.0


@contextmanager
def _download_lock(dest_dir: Path, mode: int) -> Iterator[bool]:
    """Hold a lock on the folder itself in `mode` (LOCK_SH or LOCK_EX, with LOCK_NB or not);
    yields whether it was granted. Every download run holds it shared, so whoever gets it
    exclusively knows that no download is in progress in any process (the kernel drops the
    locks of a killed process)."""
    folder = os.open(dest_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(folder, mode)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(folder)  # releases the lock


def remove_partials(dest_dir: Path) -> int:
    """Delete partial downloads in `dest_dir` that no download is writing; how many.

    When no download holds the folder's lock, every partial file is a leftover of a killed
    run and goes at once; otherwise only those untouched for STALE_PARTIAL_S seconds.
    """
    dest_dir = Path(dest_dir)
    with _download_lock(dest_dir, fcntl.LOCK_EX | fcntl.LOCK_NB) as alone:
        cutoff = float("inf") if alone else time.time() - STALE_PARTIAL_S
        removed = 0
        for path in dest_dir.glob(f"{PARTIAL_PREFIX}*{PARTIAL_SUFFIX}"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # its own run finished with it meanwhile
                pass
    return removed


def _is_markup(head: bytes) -> bool:
    """An HTML/XML page where a file was expected: a server's error or login page, not the file
    (an SVG drawing is a file)."""
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<") and not head.startswith(b"<svg")


async def _download(
    client: PoliteClient, url: str, dest_dir: Path
) -> tuple[str | None, int | None, int | None, str, str | None]:
    """(sha256, bytes, pages, status, error) for one URL; the PDF is stored when status is ok.

    An HTML page instead of the file is `failed` (a transient error page is tried again on
    the next run); a file that is simply something else (a photo, a zip) is `not_pdf`.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX, dir=dest_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            saved = await client.save_body(url, "attachment", tmp, client.settings.max_download_bytes)
        except Deferred as deferral:
            return None, None, None, "deferred", str(deferral)
        except (FetchError, RefusedUrl) as error:
            return None, None, None, "failed", str(error)
        if not saved.head.startswith(b"%PDF"):
            if _is_markup(saved.head):
                return (
                    saved.sha256,
                    saved.bytes,
                    None,
                    "failed",
                    (
                        f"an HTML page instead of the file (an error page?): starts with {saved.head!r}, not the %PDF magic"
                    ),
                )
            return saved.sha256, saved.bytes, None, "not_pdf", f"starts with {saved.head!r}, not the %PDF magic"
        s = client.settings
        pages, problem = await _checked_pages(tmp, s.pdf_parse_timeout_s, s.pdf_max_inflated_bytes)
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
    reporter = ProgressReporter(
        "attachments", len(by_url), progress, settings.progress_every_items, settings.progress_every_s
    )
    records: list[AttachmentRecord] = []
    async with PoliteClient(settings, stats) as client:

        async def one(url: str, article_ids: list[str]) -> None:
            sha, size, pages, status, error = await _download(client, url, dest_dir)
            path = str(dest_dir / f"{sha}.pdf") if status == "ok" else None
            records.extend(AttachmentRecord(a, url, sha, path, size, pages, status, error) for a in article_ids)
            reporter.advance()

        with _download_lock(dest_dir, fcntl.LOCK_SH):
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
    (a file without the %PDF magic: a photo, a zip; nothing stored), failed (`error`
    says why: HTTP, an HTML page instead of the file, size cap of
    `settings.max_download_bytes` bytes, too slow, refused URL, damaged PDF) or deferred
    (the server asked to come back later than `settings.max_retry_after_s`).
    A URL listed under several articles is downloaded once.
    """
    return asyncio.run(_download_attachments(settings, items, Path(dest_dir), progress))
