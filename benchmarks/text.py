"""PDF half of the text benchmark: pages per second for extraction + cleaning of replica PDFs.

Compared in the same run: pypdf ``extract_text`` alone (no gap detection, no cleaning: what
cleaning costs), in-process ``read_pdf_pages`` + ``clean_pdf_text``, the worker pool
(``PdfTextExtractor``, time-capped) + cleaning, and the naive time-capped approach of one new
process per file. Writes benchmarks/results/text.json.

Usage: python benchmarks/text.py [--articles 40] [--workers 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

from pypdf import PdfReader

from bmw_assets.atomic import write_json_atomic
from bmw_assets.replica.corpus import build_corpus
from bmw_assets.replica.pdf import render_press_pdf
from bmw_assets.text import PdfTextExtractor, clean_pdf_text, read_pdf_pages

RESULTS = Path(__file__).parent / "results" / "text.json"


def pypdf_only(paths: list[Path]) -> int:
    pages = 0
    for path in paths:
        reader = PdfReader(path)
        pages += sum(1 for page in reader.pages if page.extract_text() is not None)
    return pages


def in_process_clean(paths: list[Path]) -> int:
    pages = 0
    for path in paths:
        extracted = read_pdf_pages(path)
        clean_pdf_text(extracted.text)
        pages += extracted.pages
    return pages


def pool_clean(paths: list[Path], workers: int) -> int:
    with PdfTextExtractor(workers=workers) as pool:  # process start-up is counted: it is part of the cost
        results = pool.extract_many(paths, timeout_s=30)
    for result in results:
        clean_pdf_text(result.text)
    return sum(result.pages for result in results)


def _read_into(path: str, queue: multiprocessing.Queue) -> None:
    queue.put(read_pdf_pages(Path(path)))


def process_per_file_clean(paths: list[Path]) -> int:
    context = multiprocessing.get_context("spawn")
    pages = 0
    for path in paths:
        queue = context.Queue()
        process = context.Process(target=_read_into, args=(str(path), queue))
        process.start()
        result = queue.get(timeout=30)
        process.join()
        clean_pdf_text(result.text)
        pages += result.pages
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=40, help="replica articles to render (one PDF each)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes in the pool")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for article in build_corpus()[: args.articles]:
            path = Path(folder) / f"{article.id}.pdf"
            path.write_bytes(render_press_pdf(article))
            paths.append(path)
        runs = {
            "pypdf extract_text only (baseline, no cleaning)": lambda: pypdf_only(paths),
            "read_pdf_pages + clean, in process (no time cap)": lambda: in_process_clean(paths),
            f"pool of {args.workers} workers + clean (time-capped)": lambda: pool_clean(paths, args.workers),
            "new process per file + clean (naive time cap)": lambda: process_per_file_clean(paths),
        }
        rows = []
        for name, run in runs.items():
            start = time.perf_counter()
            pages = run()
            seconds = time.perf_counter() - start
            rows.append({"method": name, "pdfs": len(paths), "pages": pages, "seconds": round(seconds, 3),
                         "pages_per_s": round(pages / seconds, 2)})

    width = max(len(row["method"]) for row in rows)
    print(f"{'method':<{width}}  {'pdfs':>5} {'pages':>6} {'seconds':>8} {'pages/s':>8}")
    for row in rows:
        print(f"{row['method']:<{width}}  {row['pdfs']:>5} {row['pages']:>6} {row['seconds']:>8.2f} {row['pages_per_s']:>8.2f}")
    write_json_atomic(RESULTS, {"benchmark": "text_pdf", "articles": args.articles, "workers": args.workers, "rows": rows})


if __name__ == "__main__":
    main()
