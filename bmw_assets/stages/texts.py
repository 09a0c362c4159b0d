"""`regex_text` and `llm_text`: article text from PDFs, cleaned by rules, then by an LLM.

Every text is stored as a file under the storage root (named by its sha256) and
one row per (article, stage) in the catalog table `texts`, with its quality
(token precision/recall/F1) against the article's HTML body. Before any LLM, the text
gates (bmw_assets.text.gates) judge each PDF text: one that fails is replaced by the HTML
body where that passes the same gates, else the article is rejected; the row records the
gate that fired, its score and the source used (pdf / html_fallback / rejected).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bmw_assets.atomic import write_text_atomic
from bmw_assets.catalog import connect, transaction
from bmw_assets.catalog import texts as catalog_texts
from bmw_assets.hashing import sha256_text
from bmw_assets.llm_filter.decision import FilterSettings
from bmw_assets.llm_filter.run import FilterInput, Judge, filter_texts, judge_identity
from bmw_assets.stages.failure_rates import NO_PDF_REASON
from bmw_assets.text import CLEANING_RULES, clean_pdf_text
from bmw_assets.text.extraction import PdfTextExtractor
from bmw_assets.text.furniture_detector import detect_furniture_lines
from bmw_assets.text.gates import GATES, GateVerdict, TextGateSettings, evaluate_gates, load_text_gate_settings
from bmw_assets.text.quality import PRF, token_prf


def ruleset_fingerprint() -> str:
    """Changes whenever a cleaning rule changes, so cleaned texts are recomputed."""
    return sha256_text("\n".join(f"{r.name}\t{r.stage}\t{r.flags}\t{r.pattern}" for r in CLEANING_RULES))[:16]


@dataclass
class TextRow:
    article_id: str
    stage: str
    source: str
    text: str | None
    input_sha256: str
    status: str
    reason: str | None = None
    rules_hit: tuple[str, ...] = ()
    reference: str | None = None
    gate: str | None = None  # the gate that fired first (on the PDF text, else on the HTML body)
    gate_score: float | None = None
    detected_language: str | None = None
    gate_scores: dict[str, dict[str, float | None]] | None = None  # {"pdf"|"html": {gate: score}}
    prf: PRF | None = None  # against `reference`, when the gates already computed it


@dataclass
class StageSummary:
    processed: int
    skipped_unchanged: int
    by_status: dict[str, int]
    by_source: dict[str, int]
    f1: dict[str, float | None]
    low_f1: list[dict[str, Any]] = field(default_factory=list)
    furniture_lines: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    by_gate: dict[str, int] = field(default_factory=dict)  # texts per gate that fired
    gated: list[dict[str, Any]] = field(default_factory=list)  # a few of them: gate, score, source


def store_texts(catalog_path: Path, text_dir: Path, rows: list[TextRow]) -> None:
    """Write each text file (content-addressed) and upsert its `texts` row with its quality."""
    now = datetime.now(UTC)
    values = []
    for row in rows:
        text_sha = path = chars = None
        prf = None
        if row.text is not None:
            text_sha = sha256_text(row.text)
            path = text_dir / row.stage / f"{text_sha}.txt"
            if not path.exists():
                write_text_atomic(path, row.text)
            chars = len(row.text)
            prf = row.prf or (token_prf(row.text, row.reference) if row.reference else None)
        values.append((
            row.article_id, row.stage, row.source, text_sha, row.input_sha256,
            str(path) if path else None, chars,
            prf.precision if prf else None, prf.recall if prf else None, prf.f1 if prf else None,
            list(row.rules_hit), row.status, row.reason, now,
            row.gate, row.gate_score, row.detected_language, json.dumps(row.gate_scores) if row.gate_scores else None,
        ))  # fmt: skip
    if not values:
        return
    with connect(catalog_path) as con, transaction(con):
        catalog_texts.replace_texts(con, values)


def summarise_stage(catalog_path: Path, stage: str, processed: int, skipped: int) -> StageSummary:
    """Counts, the F1 distribution and the furniture-like lines left, over every stored text of `stage`."""
    with connect(catalog_path) as con:
        rows = catalog_texts.stage_outcomes(con, stage)
        pdf_texts = catalog_texts.pdf_text_paths(con, stage)
        by_gate = catalog_texts.texts_per_gate(con, stage)
        gated = catalog_texts.gated_examples(con, stage)
    furniture = detect_furniture_lines(
        (article_id, Path(path).read_text(encoding="utf-8")) for article_id, path in pdf_texts
    )
    scores = sorted(r[3] for r in rows if r[3] is not None and r[2] == "pdf")
    by_status: dict[str, int] = {}
    by_source: dict[str, int] = {}
    for _, status, source, _, _ in rows:
        by_status[status] = by_status.get(status, 0) + 1
        by_source[source] = by_source.get(source, 0) + 1
    f1 = {
        "mean": statistics.fmean(scores) if scores else None,
        "min": scores[0] if scores else None,
        "p10": scores[int(0.1 * (len(scores) - 1))] if scores else None,
        "median": statistics.median(scores) if scores else None,
        "scored": len(scores),
        "below_0_90": sum(s < 0.90 for s in scores),
    }
    low = sorted((r for r in rows if r[3] is not None and r[3] < 0.95), key=lambda r: r[3])[:10]
    return StageSummary(
        processed=processed,
        skipped_unchanged=skipped,
        by_status=by_status,
        by_source=by_source,
        f1=f1,
        low_f1=[{"article_id": r[0], "f1": round(r[3], 4), "reason": r[4]} for r in low],
        furniture_lines={
            "lines": furniture.paragraphs,
            "flagged": furniture.flagged,
            "flagged_share": round(furniture.flagged_share, 4),
            "by_sign": furniture.by_sign,
            "examples": furniture.examples,
        },  # fmt: skip
        by_gate=by_gate,
        gated=gated,
    )


def update_regex_text(
    catalog_path: Path,
    text_dir: Path,
    timeout_s: float = 30,
    progress: Callable[[str], None] | None = None,
    gates: TextGateSettings | None = None,
) -> StageSummary:
    """Extract and clean each article's first good PDF, judged by the text `gates` (default:
    configs/text_gates.yaml); use the HTML body when there is no PDF text or it fails a gate and the
    body passes them, else reject the article.

    Incremental: an article whose input (PDF hash + rule set, or body hash; + gate settings) is
    unchanged is skipped.
    """
    gates = gates or load_text_gate_settings()
    rules = f"{ruleset_fingerprint()}:{gates.fingerprint()}"
    with connect(catalog_path) as con:
        todo = catalog_texts.regex_inputs(con)
    pending = []
    for article_id, language, body, body_sha, pdf_sha, pdf_path, stored_input, front_matter in todo:
        front_matter = tuple(t for t in front_matter if t)  # title and teaser, removed where the PDF prints them
        input_sha = (f"pdf:{pdf_sha}:{rules}:{sha256_text(repr(front_matter))[:8]}" if pdf_sha
                     else f"html:{body_sha}:{gates.fingerprint()}")  # fmt: skip
        if input_sha != stored_input:
            pending.append((article_id, language, body, input_sha, pdf_path, front_matter))
    rows: list[TextRow] = []
    with PdfTextExtractor() as extractor:
        for done, (article_id, language, body, input_sha, pdf_path, front_matter) in enumerate(pending, 1):
            pdf = _pdf_text(extractor, pdf_path, front_matter, timeout_s)
            rows.append(_regex_row(article_id, language, body, input_sha, pdf, gates))
            if progress and (done % 25 == 0 or done == len(pending)):
                progress(f"regex_text: {done}/{len(pending)} articles cleaned")
    store_texts(catalog_path, text_dir, rows)
    return summarise_stage(catalog_path, "regex", processed=len(pending), skipped=len(todo) - len(pending))


@dataclass(frozen=True)
class PdfText:
    """An article's cleaned PDF text, or why there is none."""

    text: str | None
    rules_hit: tuple[str, ...] = ()
    problem: str | None = None


def _pdf_text(
    extractor: PdfTextExtractor, pdf_path: str | None, front_matter: tuple[str, ...], timeout_s: float
) -> PdfText:
    """The cleaned text of the PDF at `pdf_path` without the release's `front_matter` (title, teaser)."""
    if not pdf_path:
        return PdfText(None, problem=NO_PDF_REASON)
    extracted = extractor.extract(Path(pdf_path), timeout_s=timeout_s)
    if extracted.status != "ok":
        return PdfText(None, problem=f"PDF {extracted.status}: {extracted.reason}")
    cleaned = clean_pdf_text(extracted.text, front_matter=front_matter)
    if not cleaned.text.strip():
        return PdfText(None, problem="PDF text empty after cleaning")
    return PdfText(cleaned.text, cleaned.rules_hit)


def _regex_row(
    article_id: str,
    language: str | None,
    body: str | None,
    input_sha: str,
    pdf: PdfText,
    gates: TextGateSettings,
) -> TextRow:
    """The regex text of one article: its PDF text if that passes the gates, else its HTML body if
    that does, else a rejection (or a failure when there was no text at all) naming why."""
    judged: dict[str, GateVerdict] = {}
    reason = pdf.problem
    if pdf.text is not None:
        judged["pdf"] = verdict = _judge(pdf.text, language, body, gates)
        if verdict.passed:
            return _row(article_id, "pdf", pdf.text, input_sha, "ok", None, judged,
                        rules_hit=pdf.rules_hit, reference=body, prf=verdict.prf)  # fmt: skip
        reason = f"PDF text failed {verdict.reason}"
    if not (body and body.strip()):
        status = "rejected" if judged else "failed"
        return _row(article_id, "rejected" if judged else "none", None, input_sha, status,
                    f"{reason}; no HTML body", judged)  # fmt: skip
    judged["html"] = verdict = _judge(body, language, None, gates)
    if verdict.passed:
        return _row(article_id, "html_fallback", body, input_sha, "fallback", reason, judged)
    return _row(article_id, "rejected", None, input_sha, "rejected",
                f"{reason + '; ' if reason else ''}HTML body failed {verdict.reason}", judged)  # fmt: skip


def _judge(text: str, language: str | None, reference: str | None, gates: TextGateSettings) -> GateVerdict:
    if not gates.enabled:
        return GateVerdict(dict.fromkeys(GATES))
    return evaluate_gates(text, language, reference, gates)


def _row(
    article_id: str,
    source: str,
    text: str | None,
    input_sha: str,
    status: str,
    reason: str | None,
    judged: dict[str, GateVerdict],
    **fields: Any,
) -> TextRow:
    """A regex TextRow carrying the first gate that fired (on the PDF text, else the HTML body)."""
    fired = next((v for v in judged.values() if not v.passed), None)
    last = list(judged.values())[-1] if judged else None
    return TextRow(
        article_id, "regex", source, text, input_sha, status, reason=reason,
        gate=fired.failed if fired else None, gate_score=fired.score if fired else None,
        detected_language=(fired or last).detected_language if judged else None,
        gate_scores={where: v.scores for where, v in judged.items()} or None, **fields,
    )  # fmt: skip


def update_llm_text(
    catalog_path: Path,
    text_dir: Path,
    judge: Judge,
    settings: FilterSettings = FilterSettings(),
    progress: Callable[[str], None] | None = None,
) -> StageSummary:
    """Let the judge (an LLM endpoint, or the local furniture classifier) delete leftover furniture
    from each regex text (or reject the article).

    An article is re-filtered when its regex text, the model or the prompt changed, or when the
    last run fell back to the regex text (a failed request is no answer); decisions are also
    cached in the catalog, so nothing new means no requests.
    """
    model, version = judge_identity(judge, settings)
    with connect(catalog_path) as con:
        # An article whose regex text is now rejected (or failed) keeps no LLM text from an earlier run.
        catalog_texts.delete_llm_texts_of_rejected(con)
        todo = catalog_texts.llm_inputs(con)
    pending = []
    for article_id, path, text_sha, source, body, stored_input, _, stored_status in todo:
        input_sha = f"{text_sha}:{model}:{version}"
        if input_sha != stored_input or stored_status == "fallback":
            pending.append((article_id, Path(path).read_text(encoding="utf-8"), input_sha, source, body))
    run = filter_texts(
        [FilterInput(article_id, text) for article_id, text, *_ in pending], judge, catalog_path, settings, progress
    )
    rows = [
        TextRow(
            article_id,
            "llm",
            source,
            result.text if result.status != "rejected" else None,
            input_sha,
            result.status,
            reason=result.reason,
            reference=body if source == "pdf" else None,
        )  # fmt: skip
        for (article_id, _, input_sha, source, body), result in zip(pending, run.results, strict=True)
    ]
    store_texts(catalog_path, text_dir, rows)
    summary = summarise_stage(catalog_path, "llm", processed=len(pending), skipped=len(todo) - len(pending))
    regex_scores = [r[6] for r in todo if r[6] is not None and r[3] == "pdf"]
    summary.extra = {
        "judge": model,
        "requests": run.requests,
        "cache_hits": run.cache_hits,
        "fallbacks": run.fallbacks,
        "tokens": run.tokens,
        "seconds": round(run.seconds, 2),
        "paragraphs_kept": sum(len(r.kept) for r in run.results),
        "paragraphs_dropped": sum(len(r.dropped) for r in run.results),
        "rejected": {r.article_id: r.reason for r in run.results if r.status == "rejected"},
        "regex_f1_mean": statistics.fmean(regex_scores) if regex_scores else None,
    }
    return summary
