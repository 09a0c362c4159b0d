"""extract_pdf_text statuses on real files: each bad PDF gives its status, never an exception."""

import threading
import time
from pathlib import Path

import psutil
import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from bmw_assets.pdf_limits import DEFAULT_MAX_INFLATED_BYTES
from bmw_assets.replica.faults import deflate_bomb_pdf
from bmw_assets.text.extraction import PAGE_BREAK, PdfTextExtractor, read_pdf_pages


def _text_pdf(path: Path, pages: int = 2) -> Path:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for number in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 5, f"Munich. Body text on page {number + 1}\nabout the new\nplug-in hybrid.")
        pdf.ln(6)
        pdf.multi_cell(0, 5, f"A second paragraph on page {number + 1}.")
    pdf.output(str(path))
    return path


@pytest.fixture(scope="module")
def extractor():
    with PdfTextExtractor(workers=1) as pool:
        yield pool


def test_text_pdf_is_ok_page_by_page_with_paragraph_gaps(tmp_path, extractor):
    result = extractor.extract(_text_pdf(tmp_path / "ok.pdf"), timeout_s=30)
    assert (result.status, result.pages, result.reason) == ("ok", 2, "")
    first, second = result.text.split(PAGE_BREAK)
    assert first == "Munich. Body text on page 1\nabout the new\nplug-in hybrid.\n\nA second paragraph on page 1."
    assert "page 2" in second


def test_encrypted_pdf(tmp_path, extractor):
    writer = PdfWriter(clone_from=PdfReader(_text_pdf(tmp_path / "plain.pdf")))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    writer.write(tmp_path / "locked.pdf")
    result = extractor.extract(tmp_path / "locked.pdf")
    assert result.status == "encrypted" and result.text == ""


def test_image_only_pdf_has_no_text(tmp_path, extractor):
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")  # drawn, not text: like a scan
    pdf.output(str(tmp_path / "scan.pdf"))
    result = extractor.extract(tmp_path / "scan.pdf")
    assert (result.status, result.pages) == ("no_text", 1)


def test_non_pdf_file_fails_with_reason(tmp_path, extractor):
    (tmp_path / "page.pdf").write_text("<html><body>Not found</body></html>")
    result = extractor.extract(tmp_path / "page.pdf")
    assert result.status == "failed" and "not a PDF" in result.reason


def test_truncated_pdf_fails(tmp_path, extractor):
    data = _text_pdf(tmp_path / "whole.pdf").read_bytes()
    (tmp_path / "cut.pdf").write_bytes(data[:200])
    result = extractor.extract(tmp_path / "cut.pdf")
    assert result.status == "failed" and result.reason


def test_missing_file_fails_in_process(tmp_path):
    result = read_pdf_pages(tmp_path / "absent.pdf")
    assert result.status == "failed" and "absent.pdf" in result.reason


@pytest.fixture(scope="module")
def big_pdf(tmp_path_factory) -> Path:
    """About a second of pypdf work on two cores: far past a 0.05 s cap, whose check pebble makes
    every 0.1 s or so (a 120-page file once finished inside that window)."""
    return _text_pdf(tmp_path_factory.mktemp("big") / "big.pdf", pages=1500)


def test_overrunning_pdf_times_out_and_the_pool_recovers(tmp_path, extractor, big_pdf):
    result = extractor.extract(big_pdf, timeout_s=0.05)
    assert result.status == "timeout" and "0.05 s" in result.reason
    # the killed worker is replaced: the next file is read normally
    assert extractor.extract(_text_pdf(tmp_path / "next.pdf")).status == "ok"


def _workers() -> set[psutil.Process]:
    return {c for c in psutil.Process().children() if "spawn_main" in " ".join(c.cmdline())}


def _wait_until_busy(worker: psutil.Process, timeout_s: float = 30) -> psutil.Process:
    """`worker`, once it spends CPU time (on a file it took)."""
    idle = sum(worker.cpu_times()[:2])
    deadline = time.monotonic() + timeout_s
    while sum(worker.cpu_times()[:2]) < idle + 0.2:
        assert time.monotonic() < deadline, "the worker never started on the file"
        time.sleep(0.02)
    return worker


def test_a_worker_killed_mid_file_is_a_failure_and_the_pool_recovers(tmp_path, big_pdf):
    others = _workers()  # the module's shared pool
    with PdfTextExtractor(workers=1) as pool:
        assert pool.extract(_text_pdf(tmp_path / "warm.pdf")).status == "ok"  # the worker is up and idle
        (worker,) = _workers() - others
        results = []
        reader = threading.Thread(target=lambda: results.append(pool.extract(big_pdf, timeout_s=120)))
        reader.start()
        _wait_until_busy(worker).kill()  # as the kernel's out-of-memory killer would
        reader.join(timeout=60)
        assert results[0].status == "failed" and "extraction process died (exit code -9)" in results[0].reason
        assert pool.extract(_text_pdf(tmp_path / "next.pdf")).status == "ok"


def _peak_rss_bytes(process: psutil.Process) -> int:
    """The process's high-water resident set (VmHWM in /proc/<pid>/status)."""
    status = Path(f"/proc/{process.pid}/status").read_text()
    (line,) = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1]) * 1024


def test_a_deflate_bomb_through_the_pool_gives_no_text_and_the_worker_stays_small(tmp_path):
    bomb_bytes = 8 * DEFAULT_MAX_INFLATED_BYTES  # 512 MiB of spaces from about half a megabyte
    (tmp_path / "bomb.pdf").write_bytes(deflate_bomb_pdf(bomb_bytes))
    others = _workers()
    with PdfTextExtractor(workers=1) as pool:
        result = pool.extract(tmp_path / "bomb.pdf", timeout_s=60)
        (worker,) = _workers() - others
        peak = _peak_rss_bytes(worker)
    assert result.status in ("failed", "no_text") and result.text == ""
    # pypdf's decoders are capped (bounded_pypdf): the worker never holds the whole stream.
    assert peak < bomb_bytes / 2, f"worker peaked at {peak / 2**20:.0f} MiB"


def test_extract_many_keeps_order_and_reports_progress(tmp_path):
    paths = [_text_pdf(tmp_path / f"{n}.pdf", pages=n) for n in (1, 2, 3)]
    messages: list[str] = []
    with PdfTextExtractor(workers=2) as pool:
        results = pool.extract_many(paths, progress=messages.append)
    assert [r.pages for r in results] == [1, 2, 3]
    assert messages[-1] == "extracted text from 3/3 PDFs"
