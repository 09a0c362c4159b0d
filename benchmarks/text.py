"""PDF half of the text benchmark: pages per second for extraction + cleaning of replica PDFs,
and the cleaning targets on a few hundred replica releases with realistic furniture.

Compared in the same run: pypdf ``extract_text`` alone (no gap detection, no cleaning: what
cleaning costs), in-process ``read_pdf_pages`` + ``clean_pdf_text``, the worker pool
(``PdfTextExtractor``, time-capped) + cleaning, and the naive time-capped approach of one new
process per file. Quality, against each release's known body: body tokens kept, furniture
tokens left and body paragraphs deleted whole, after the rules alone and after the rules + the
local filter (the MiniLM classifier with the local profile's settings); targets >= 99.9 %,
<= 15 % (rules) and <= 5 % (rules + filter), 0. Writes benchmarks/results/text.json.

Usage: python benchmarks/text.py [--articles 40] [--workers 2] [--quality-articles 300]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

from pypdf import PdfReader

from bmw_assets.atomic import write_json_atomic
from bmw_assets.llm_filter import FilterInput, FilterSettings, filter_texts
from bmw_assets.llm_filter.classifier import load_or_train
from bmw_assets.replica.corpus import build_corpus
from bmw_assets.replica.labelled_text import body_paragraphs_lost, extracted_texts, score_release
from bmw_assets.replica.pdf import render_press_pdf
from bmw_assets.text import PdfTextExtractor, clean_pdf_text, read_pdf_pages
from bmw_assets.text.quality import FurnitureScore

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


def cleaning_quality(count: int) -> dict:
    """The cleaning targets on the first `count` releases with a PDF of the served replica corpus."""
    corpus = build_corpus(size=max(400, count + 60))
    releases = []
    for article, raw in extracted_texts(corpus):
        releases.append((article, raw, clean_pdf_text(raw, front_matter=(article.title, article.teaser)).text))
        if len(releases) == count:
            break
    started = time.perf_counter()
    catalog = Path(tempfile.mkdtemp(prefix="text-bench-")) / "catalog.duckdb"
    settings = FilterSettings(keep_threshold=0.1, max_judged_chars=300)  # the local profile's (definitions.py)
    run = filter_texts([FilterInput(a.id, text) for a, _, text in releases], load_or_train(catalog.parent), catalog, settings)
    filter_seconds = time.perf_counter() - started
    rows = {}
    for stage, texts in (("rules", [text for *_, text in releases]), ("rules + classifier", [r.text for r in run.results])):
        score = sum((score_release(article, raw, text) for (article, raw, _), text in zip(releases, texts, strict=True)),
                    FurnitureScore(0, 0, 0, 0))
        rows[stage] = {
            "body_tokens": score.body_tokens, "body_kept_share": round(score.body_kept_share, 5),
            "furniture_tokens": score.furniture_tokens, "furniture_left_share": round(score.furniture_left_share, 4),
            "body_paragraphs_deleted_whole": sum(
                len(body_paragraphs_lost(article, text)) for (article, _, _), text in zip(releases, texts, strict=True)),
        }
    rows["rules + classifier"]["filter_seconds"] = round(filter_seconds, 2)
    return {"releases": len(releases), "targets": {"body_kept_share": ">= 0.999", "furniture_left_share":
            {"rules": "<= 0.15", "rules + classifier": "<= 0.05"}, "body_paragraphs_deleted_whole": 0}, **rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=40, help="replica articles to render (one PDF each)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes in the pool")
    parser.add_argument("--quality-articles", type=int, default=300, help="releases the cleaning targets are measured on")
    args = parser.parse_args()
    quality = cleaning_quality(args.quality_articles)

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
    print(f"quality on {quality['releases']} releases:")
    for stage in ("rules", "rules + classifier"):
        row = quality[stage]
        print(f"  {stage:<20} body kept {row['body_kept_share']:.5f}  furniture left {row['furniture_left_share']:.4f}"
              f"  body paragraphs deleted whole {row['body_paragraphs_deleted_whole']}")
    write_json_atomic(RESULTS, {"benchmark": "text_pdf", "articles": args.articles, "workers": args.workers, "rows": rows,
                                "cleaning_quality": quality})


if __name__ == "__main__":
    main()
