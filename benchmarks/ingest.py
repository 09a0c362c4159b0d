"""Ingest throughput: the PressClub client versus a naive sequential scraper, same replica, same run.

The replica runs in its own process (`python -m bmw_assets.replica serve`) with
0.1 s added latency per request, so the client's peak RSS is its own. Rows:
- sequential: one request at a time (feed pages, then each article's detail
  page and its attachments), a new connection per request, as a naive scraper;
- client, production politeness: `ClientSettings.production()` numbers (4
  connections, 4 requests/s, robots.txt and its Crawl-delay obeyed) with only
  host and loopback allowance changed; the replica's robots.txt says
  Crawl-delay: 1, so this row runs at 1 request/s by design;
- client, production numbers without Crawl-delay (4 connections, 4 requests/s);
- client, local profile (16 connections, 500 requests/s).
Each row fetches articles (feeds + detail pages) and downloads their
attachments; articles/s = articles / wall seconds. The replica renders each
PDF on first request and caches 256 of them, so a warm-up pass fills that
cache first (for --articles above ~250 the client rows are bound by rendering).

Load (`--load N`): the `article_index` + `raw_pdfs` stages (client, local profile, into a
fresh DuckDB catalog) for N articles of a replica of N, each in a fresh process whose peak
RSS is measured; the same for --articles articles beside it shows whether memory grows with
N. No warm-up here: the replica renders every PDF on first request (~35 ms each, in its
event loop), so at N=5,000 the row measures the replica's rendering as much as the client.

Usage: python benchmarks/ingest.py [--articles 200] [--polite-articles 20] [--load 5000]
Writes benchmarks/results/ingest.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import requests

from bmw_assets.atomic import write_json_atomic
from bmw_assets.pressclub import ClientSettings, download_attachments, fetch_articles
from bmw_assets.pressclub.feed import NotAFeed, parse_feed_page
from bmw_assets.pressclub.urls import rebase_next_link
from bmw_assets.stages.ingestion import update_article_index, update_raw_pdfs

RESULTS = Path(__file__).parent / "results" / "ingest.json"
ATTACHMENT_HREF = re.compile(rb'href="([^"]*/article/attachment/[^"]+)"')


def start_replica(size: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "bmw_assets.replica", "serve", "--port", str(port), "--size", str(size),
         "--published", str(size)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    root = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{root}/robots.txt", timeout=1).read()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError(f"the replica did not answer on {root} within 30 s")
    request = urllib.request.Request(
        f"{root}/_replica/faults", data=json.dumps({"latency_s": 0.1}).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    urllib.request.urlopen(request, timeout=10).read()
    return process, f"{root}/global"


def sequential(base_url: str, n: int) -> dict:
    """The naive scraper: walk the feed, then detail page + attachments per article, one request at a time."""
    started, requests_made, links = time.monotonic(), 0, []
    url: str | None = f"{base_url}/rss2"
    while url and len(links) < n:
        response = requests.get(url, timeout=30)
        requests_made += 1
        try:
            page = parse_feed_page(response.content)
        except NotAFeed:
            break
        links += [item.link for item in page.items]
        url = rebase_next_link(page.next_href, url) if page.next_href else None
    files = 0
    for link in links[:n]:
        detail = requests.get(link, timeout=30)
        requests_made += 1
        for href in dict.fromkeys(ATTACHMENT_HREF.findall(detail.content)):
            _ = requests.get(requests.compat.urljoin(link, href.decode()), timeout=30).content  # the whole body
            requests_made += 1
            files += 1
    seconds = time.monotonic() - started
    return {"articles": min(n, len(links)), "attachments": files, "requests": requests_made, "seconds": seconds}


def client(settings: ClientSettings, n: int, dest: Path) -> dict:
    started = time.monotonic()
    fetched = fetch_articles(settings, target=n, known={})
    items = [(a.id, url) for a in fetched.new for url in a.attachment_urls]
    downloaded = download_attachments(settings, items, dest)
    seconds = time.monotonic() - started
    return {
        "articles": len(fetched.new),
        "attachments": len(items),
        "attachments_ok": sum(r.status == "ok" for r in downloaded.records),
        "requests": fetched.stats.requests + downloaded.stats.requests,
        "retries": fetched.stats.retries + downloaded.stats.retries,
        "failures": len(fetched.failures),
        "seconds": seconds,
    }


def ingest_into_catalog(base_url: str, n: int) -> dict:
    """Run in a fresh process: both ingestion stages for `n` articles into a temp catalog;
    wall seconds, counts and this process's peak RSS (MiB)."""
    settings = ClientSettings.local(base_url)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        started = time.monotonic()
        index = update_article_index(settings, root / "catalog.duckdb", n)
        pdfs = update_raw_pdfs(settings, root / "catalog.duckdb", root / "pdfs")
        seconds = time.monotonic() - started
    return {
        "articles": index.total,
        "article_failures": index.failed,
        "attachments": pdfs.requested,
        "attachments_ok": pdfs.ok,
        "attachments_failed": pdfs.failed,
        "requests": index.stats["requests"] + pdfs.stats.get("requests", 0),
        "retries": index.stats["retries"] + pdfs.stats.get("retries", 0),
        "seconds": seconds,
        "articles_per_second": index.total / seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def load_rows(sizes: list[int]) -> list[dict]:
    """`ingest_into_catalog` for each size, against a replica of the largest size, each in its own process."""
    process, base_url = start_replica(max(sizes))
    try:
        rows = []
        for n in sizes:
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                rows.append({"name": f"stages into catalog, local profile, {n} articles",
                             **pool.apply(ingest_into_catalog, (base_url, n))})  # fmt: skip
        return rows
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=200, help="articles for the sequential and local rows")
    parser.add_argument("--polite-articles", type=int, default=20, help="articles for the production-politeness rows")
    parser.add_argument("--load", type=int, default=0, help="articles for the load rows (0: none), e.g. 5000")
    parser.add_argument("--load-only", action="store_true", help="run only the load rows; keep the other results")
    args = parser.parse_args()
    if args.load_only:
        report_load(args.load, args.articles)
        return

    process, base_url = start_replica(args.articles)
    try:
        host_only = {"base_url": base_url, "allowed_hosts": frozenset({"127.0.0.1"}), "allow_private_addresses": True}
        production = dataclasses.replace(ClientSettings.production(), **host_only)
        local = ClientSettings.local(base_url)
        configs = [
            ("client, production politeness", production, args.polite_articles),
            ("client, production without Crawl-delay", dataclasses.replace(production, obey_crawl_delay=False),
             args.polite_articles),
            ("client, local profile", local, args.articles),
        ]  # fmt: skip
        with tempfile.TemporaryDirectory() as scratch:
            warm_up = client(local, args.articles, Path(scratch) / "warm")
            rows = [{"name": "sequential (naive)", "connections": 1, "requests_per_second": None,
                     **sequential(base_url, args.articles)}]  # fmt: skip
            for i, (name, settings, n) in enumerate(configs):
                rows.append({
                    "name": name, "connections": settings.max_connections,
                    "requests_per_second": settings.requests_per_second, "obey_crawl_delay": settings.obey_crawl_delay,
                    **client(settings, n, Path(scratch) / str(i)),
                })  # fmt: skip
    finally:
        process.terminate()
        process.wait(10)
    baseline = rows[0]["articles"] / rows[0]["seconds"]
    for row in rows:
        row["articles_per_second"] = row["articles"] / row["seconds"]
        row["speedup_vs_sequential"] = row["articles_per_second"] / baseline
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"replica: {args.articles} articles, latency 0.1 s/request; warm-up {warm_up['seconds']:.1f} s")
    print(
        f"{'run':42} {'conns':>5} {'req/s':>6} {'articles':>8} {'files':>6} {'requests':>8} {'seconds':>8} {'art/s':>7} {'x seq':>6}"
    )
    for row in rows:
        rate = "-" if row["requests_per_second"] is None else f"{row['requests_per_second']:g}"
        print(f"{row['name']:42} {row['connections']:>5} {rate:>6} {row['articles']:>8} {row['attachments']:>6} "
              f"{row['requests']:>8} {row['seconds']:>8.1f} {row['articles_per_second']:>7.2f} {row['speedup_vs_sequential']:>6.1f}")  # fmt: skip
    print(f"peak RSS of the benchmark process (client side; the replica runs separately): {peak_rss_mib:.0f} MiB")
    write_json_atomic(
        RESULTS, {"articles": args.articles, "latency_s": 0.1, "rows": rows, "peak_rss_mib": peak_rss_mib}
    )
    if args.load:
        report_load(args.load, args.articles)


def report_load(n: int, baseline_articles: int) -> None:
    """Print the load rows and add them to the results file under "load" (other keys kept)."""
    rows = load_rows([baseline_articles, n])
    print(f"load: replica of {n} articles, latency 0.1 s/request, PDFs rendered on first request")
    print(f"{'run':48} {'articles':>8} {'files':>6} {'failed':>6} {'seconds':>8} {'art/s':>7} {'peak RSS MiB':>12}")
    for row in rows:
        print(f"{row['name']:48} {row['articles']:>8} {row['attachments']:>6} {row['attachments_failed']:>6} "
              f"{row['seconds']:>8.1f} {row['articles_per_second']:>7.2f} {row['peak_rss_mib']:>12.0f}")  # fmt: skip
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    write_json_atomic(RESULTS, results | {"load": {"articles": n, "latency_s": 0.1, "rows": rows}})


if __name__ == "__main__":
    main()
