"""PDF text extraction with pypdf, run in worker processes so a pathological PDF can be cut off.

pypdf is pure Python: a malformed file can make it loop for minutes or eat memory, and a
thread cannot be stopped. The workers are a pebble process pool: each is started once and
reused for many files; when a file overruns its time cap pebble ends that worker and starts a
fresh one. Memory is held in check inside the worker: pypdf's decoders stop at
DEFAULT_MAX_INFLATED_BYTES per stream (``bounded_pypdf``).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import statistics
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pebble import ProcessExpired, ProcessPool

from bmw_assets.pdf_limits import bounded_pypdf

if TYPE_CHECKING:
    from pypdf import PageObject

ExtractionStatus = Literal["ok", "no_text", "encrypted", "failed", "timeout"]

PAGE_BREAK = "\f"
"""Separates the pages in ``ExtractedText.text`` (the form feed, as pdftotext writes it)."""

_MAGIC_WINDOW = 1024  # bytes; pypdf, like Acrobat, accepts junk before "%PDF-"


@dataclass(frozen=True)
class ExtractedText:
    """Text of one PDF.

    ``text``: the pages' text joined by ``PAGE_BREAK`` ("" unless status is ok);
    ``pages``: page count (0 when the file could not be opened); ``status``: ok, no_text
    (pages hold no extractable text, e.g. scans), encrypted (needs a password), failed (not
    a PDF, damaged, or every page failed) or timeout; ``reason``: why, "" when ok with no
    problem pages.
    """

    text: str
    pages: int
    status: ExtractionStatus
    reason: str = ""


def read_pdf_pages(path: Path) -> ExtractedText:
    """Extract the text of the PDF at ``path`` in this process, page by page; never raises.

    Lines are pypdf's (content-stream order); a blank line marks a vertical gap larger than
    the page's usual line step, which is how paragraphs are set apart.

    Use ``extract_pdf_text`` (time-capped, separate process) for untrusted files. pypdf's
    decoders stop at DEFAULT_MAX_INFLATED_BYTES per stream (a deflate bomb fails its page).
    """
    with bounded_pypdf():
        return _read_pages(path)


def _read_pages(path: Path) -> ExtractedText:
    from pypdf import PasswordType, PdfReader

    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(_MAGIC_WINDOW)
    except OSError as exc:
        return ExtractedText("", 0, "failed", f"cannot read {path}: {exc}")
    if b"%PDF-" not in head:
        return ExtractedText("", 0, "failed", f"not a PDF: no %PDF- header in the first bytes {head[:16]!r}")
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # owner-password-only PDFs open with an empty user password
            except Exception as exc:  # pypdf raises DependencyError for AES without `cryptography`
                return ExtractedText("", 0, "encrypted", f"cannot decrypt: {type(exc).__name__}: {exc}")
            if opened == PasswordType.NOT_DECRYPTED:
                return ExtractedText("", 0, "encrypted", "encrypted with a user password")
        page_count = len(reader.pages)
    except Exception as exc:
        return ExtractedText("", 0, "failed", f"cannot open PDF: {type(exc).__name__}: {exc}")
    if page_count == 0:
        return ExtractedText("", 0, "failed", "the PDF has no pages")

    texts: list[str] = []
    bad_pages: list[str] = []
    for number in range(page_count):
        try:
            texts.append(_page_text_with_gaps(reader.pages[number]))
        except Exception as exc:
            texts.append("")
            bad_pages.append(f"page {number + 1}: {type(exc).__name__}: {exc}")
    if len(bad_pages) == page_count:
        return ExtractedText("", page_count, "failed", "; ".join(bad_pages))
    if not any(text.strip() for text in texts):
        reason = "no extractable text on any page (a scan or images only?)"
        return ExtractedText("", page_count, "no_text", "; ".join([reason, *bad_pages]))
    return ExtractedText(PAGE_BREAK.join(texts), page_count, "ok", "; ".join(bad_pages))


_PARAGRAPH_GAP = 1.35  # a line step this many times the page's usual step marks a paragraph break


def _page_text_with_gaps(page: PageObject) -> str:
    """pypdf's text of one page, with a blank line wherever the vertical gap between two lines
    is clearly larger than the page's usual line step (paragraph spacing)."""
    fragments: list[tuple[str, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        fragments.append((text, tm[5] * cm[3] + cm[5]))  # baseline height in points

    text = page.extract_text(visitor_text=visit) or ""
    if "".join(fragment for fragment, _ in fragments) != text:
        return text  # the visitor did not see the whole output: keep pypdf's lines as they are
    lines: list[str] = [""]
    heights: list[float | None] = [None]
    for fragment, height in fragments:
        for index, piece in enumerate(fragment.split("\n")):
            if index:
                lines.append("")
                heights.append(None)
            if piece.strip() and heights[-1] is None:
                heights[-1] = height
            lines[-1] += piece
    steps = [
        above - below
        for above, below in zip(heights, heights[1:], strict=False)
        if above is not None and below is not None and above > below
    ]
    if not steps:
        return text
    usual = statistics.median(steps)
    out = [lines[0]]
    for above, below, line in zip(heights, heights[1:], lines[1:], strict=False):
        gap = above is not None and below is not None and above - below > _PARAGRAPH_GAP * usual
        out.append(f"\n{line}" if gap else line)
    return "\n".join(out)


def _prepare_worker() -> None:
    """Runs once in each new worker: pypdf is imported here, so that start-up never counts
    against a file's time cap, and its per-page warnings about damaged files are silenced."""
    import pypdf  # noqa: F401

    logging.getLogger("pypdf").setLevel(logging.ERROR)


class PdfTextExtractor:
    """A pool of ``workers`` extraction processes (a context manager; ``close`` ends them).

    Processes start on first use and are reused across files, so the per-file cost is the
    parse itself, not a process start. A file's time cap counts from the moment a worker takes it.
    """

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        # spawn, not fork: the caller (a Dagster run) may hold threads and locks
        self._pool = ProcessPool(max_workers=workers, initializer=_prepare_worker,
                                 context=multiprocessing.get_context("spawn"))  # fmt: skip

    def extract(self, path: Path, timeout_s: float = 30) -> ExtractedText:
        """Text of the PDF at ``path``, abandoning it after ``timeout_s`` seconds; never raises for a bad PDF."""
        return _outcome(self._schedule(path, timeout_s), timeout_s)

    def extract_many(
        self,
        paths: Sequence[Path],
        timeout_s: float = 30,
        progress: Callable[[str], None] | None = None,
    ) -> list[ExtractedText]:
        """``extract`` for every path, spread over the workers; results in the order of ``paths``."""
        futures = [self._schedule(path, timeout_s) for path in paths]
        step = max(1, len(paths) // 10)
        results = []
        for done, future in enumerate(futures, 1):
            results.append(_outcome(future, timeout_s))
            if progress is not None and (done % step == 0 or done == len(paths)):
                progress(f"extracted text from {done}/{len(paths)} PDFs")
        return results

    def _schedule(self, path: Path, timeout_s: float) -> Future[ExtractedText]:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s}")
        return self._pool.schedule(read_pdf_pages, args=(Path(path),), timeout=timeout_s)

    def close(self) -> None:
        """Stop taking files, let the workers finish the files they hold, and end them."""
        self._pool.close()
        self._pool.join()

    def __enter__(self) -> PdfTextExtractor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _outcome(future: Future[ExtractedText], timeout_s: float) -> ExtractedText:
    """The worker's ExtractedText, or a timeout / failure when the worker was ended or died."""
    try:
        return future.result()
    except TimeoutError:
        return ExtractedText("", 0, "timeout", f"extraction took longer than {timeout_s:g} s; abandoned")
    except ProcessExpired as error:  # killed from outside: the kernel's OOM killer, a signal
        return ExtractedText("", 0, "failed", f"extraction process died (exit code {error.exitcode})")
    except Exception as error:  # read_pdf_pages catches pypdf's errors; this is MemoryError, RecursionError…
        return ExtractedText("", 0, "failed", f"extraction failed: {type(error).__name__}: {error}")


_shared: PdfTextExtractor | None = None
_shared_lock = threading.Lock()


def extract_pdf_text(path: Path, timeout_s: float = 30) -> ExtractedText:
    """Text of the PDF at ``path`` (see ``ExtractedText``), cut off after ``timeout_s`` seconds.

    Uses one shared worker process kept for the life of this process; for many files at
    once use ``PdfTextExtractor(workers=n).extract_many``.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = PdfTextExtractor(workers=1)
            atexit.register(_shared.close)
    return _shared.extract(path, timeout_s)
