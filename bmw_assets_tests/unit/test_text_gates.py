"""The text gates in regex_text, over real parts: replica PDFs rendered to real bytes, pypdf in the
extractor's worker processes, a real DuckDB catalog."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import duckdb
import pytest
from pypdf import PdfReader

from bmw_assets.replica.catalog_seed import seed_catalog
from bmw_assets.replica.corpus import build_corpus
from bmw_assets.replica.pdf_shapes import PdfShapeRates, foreign_release, render_shaped_pdf, with_pdf_shapes
from bmw_assets.stages.dataset import clean_articles
from bmw_assets.stages.failure_rates import gated_share, text_failure_rate
from bmw_assets.stages.texts import TextRow, store_texts, update_regex_text
from bmw_assets.text import clean_pdf_text
from bmw_assets.text.gates import evaluate_gates, load_text_gate_settings
from bmw_assets.text.quality import token_prf

SHAPES = ("good", "wrong_language:de", "wrong_language:ro", "garbled:no_unicode_map",
          "garbled:wrong_unicode_map", "table_only")  # fmt: skip


@pytest.fixture(scope="module")
def one_of_each() -> dict[str, object]:
    """The first replica article (with a PDF) of every shape, under rates high enough to find them all."""
    corpus = with_pdf_shapes(build_corpus(size=300), PdfShapeRates(0.2, 0.2, 0.1))
    found = {}
    for article in corpus:
        if any(a.kind == "pdf" for a in article.attachments):
            found.setdefault(article.pdf_shape, article)
    assert set(found) == set(SHAPES)
    return found


def _regex_rows(catalog: Path) -> dict[str, dict]:
    con = duckdb.connect(str(catalog), read_only=True)
    cursor = con.execute(
        "SELECT article_id, source, status, gate, gate_score, reason, gate_scores FROM texts WHERE stage = 'regex'"
    )
    names = [c[0] for c in cursor.description]
    rows = {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
    con.close()
    return rows


def test_pypdf_really_reads_garbage_from_the_garbled_pdfs(one_of_each) -> None:
    for shape in ("garbled:no_unicode_map", "garbled:wrong_unicode_map"):
        article = one_of_each[shape]
        pages = PdfReader(io.BytesIO(render_shaped_pdf(article))).pages
        text = clean_pdf_text("\n".join(page.extract_text() for page in pages)).text
        assert len(text) > 1000, shape  # text is there, just not the printed characters
        assert token_prf(text, article.body_text).f1 < 0.05, shape


def test_each_shape_from_real_pdf_bytes_through_regex_text(tmp_path: Path, one_of_each) -> None:
    catalog = tmp_path / "catalog.duckdb"
    seed_catalog(catalog, tmp_path / "pdfs", list(one_of_each.values()))
    summary = update_regex_text(catalog, tmp_path / "text", gates=load_text_gate_settings())
    rows = {shape: _regex_rows(catalog)[article.id] for shape, article in one_of_each.items()}

    assert (rows["good"]["source"], rows["good"]["gate"]) == ("pdf", None)
    expected_gate = {
        "wrong_language:de": "wrong_language",
        "wrong_language:ro": "wrong_language",
        "garbled:no_unicode_map": "garbled_characters",
        "garbled:wrong_unicode_map": "unrecognised_text",
    }
    for shape, gate in expected_gate.items():  # the English HTML body passes, so it replaces the PDF text
        assert (rows[shape]["source"], rows[shape]["status"], rows[shape]["gate"]) == (
            "html_fallback",
            "fallback",
            gate,
        )
        assert rows[shape]["reason"].startswith(f"PDF text failed {gate}")
    assert "'de'" in rows["wrong_language:de"]["reason"] and "'ro'" in rows["wrong_language:ro"]["reason"]
    # A results table is a table in the HTML body too: nothing passes, the article is rejected.
    table = rows["table_only"]
    assert (table["source"], table["status"], table["gate"]) == ("rejected", "rejected", "table_only")
    assert table["gate_score"] > 0.35 and "HTML body failed table_only" in table["reason"]
    assert set(json.loads(table["gate_scores"])) == {"pdf", "html"}
    assert summary.by_gate == {"wrong_language": 2, "garbled_characters": 1, "unrecognised_text": 1, "table_only": 1}
    # Gate switches are not extraction failures; they are counted by their own check.
    assert text_failure_rate(catalog).failed == 0
    assert (gated_share(catalog).failed, gated_share(catalog).total) == (5, 6)


def test_a_german_article_keeps_its_german_pdf(tmp_path: Path, one_of_each) -> None:
    """The language gate compares with the article's own language (its id's suffix), not with English."""
    english = one_of_each["good"]
    german = dataclasses.replace(foreign_release(english, "de"), id=english.id.replace("EN", "DE"),
                                 pdf_shape="good")  # fmt: skip
    catalog = tmp_path / "catalog.duckdb"
    seed_catalog(catalog, tmp_path / "pdfs", [german])
    update_regex_text(catalog, tmp_path / "text", gates=load_text_gate_settings())
    row = _regex_rows(catalog)[german.id]
    assert (row["source"], row["status"], row["gate"]) == ("pdf", "ok", None)


def test_garbled_pdf_without_html_body_is_rejected_with_its_reason(tmp_path: Path, one_of_each) -> None:
    article = one_of_each["garbled:no_unicode_map"]
    catalog = tmp_path / "catalog.duckdb"
    seed_catalog(catalog, tmp_path / "pdfs", [article])
    con = duckdb.connect(str(catalog))
    con.execute("UPDATE articles SET body_text = NULL WHERE id = ?", [article.id])
    con.close()
    update_regex_text(catalog, tmp_path / "text", gates=load_text_gate_settings())
    row = _regex_rows(catalog)[article.id]
    assert (row["source"], row["status"], row["gate"]) == ("rejected", "rejected", "garbled_characters")
    assert row["reason"].startswith("PDF text failed garbled_characters") and row["reason"].endswith("no HTML body")


def test_rejected_articles_never_reach_the_dataset(tmp_path: Path, one_of_each) -> None:
    """Even an LLM text kept from a run before the gates rejected the article is left out."""
    catalog = tmp_path / "catalog.duckdb"
    articles = [one_of_each["good"], one_of_each["table_only"]]
    seed_catalog(catalog, tmp_path / "pdfs", articles)
    update_regex_text(catalog, tmp_path / "text", gates=load_text_gate_settings())
    store_texts(
        catalog, tmp_path / "text", [TextRow(a.id, "llm", "pdf", a.body_text, "earlier", "ok") for a in articles]
    )
    assert [a.article_id for a in clean_articles(catalog)] == [one_of_each["good"].id]


def test_gates_off_let_every_pdf_text_through(tmp_path: Path, one_of_each) -> None:
    catalog = tmp_path / "catalog.duckdb"
    seed_catalog(catalog, tmp_path / "pdfs", [one_of_each["wrong_language:de"]])
    gates = load_text_gate_settings().model_copy(update={"enabled": False})
    update_regex_text(catalog, tmp_path / "text", gates=gates)
    assert _regex_rows(catalog)[one_of_each["wrong_language:de"].id]["source"] == "pdf"


def test_thresholds_come_from_the_settings_file(tmp_path: Path) -> None:
    settings = load_text_gate_settings()
    table = "Pos. Player Nation Total\n" + "\n".join(f"{i} Anna Keller GER 68 70 {270 + i}" for i in range(1, 30))
    assert evaluate_gates(table, "en", None, settings).failed == "table_only"
    lenient = tmp_path / "gates.yaml"
    values = settings.model_dump() | {"max_numeric_cell_share": 0.9}
    lenient.write_text(json.dumps(values))  # JSON is YAML
    assert evaluate_gates(table, "en", None, load_text_gate_settings(lenient)).failed != "table_only"
    broken = tmp_path / "broken.yaml"
    broken.write_text(json.dumps(values | {"min_html_f1": 2}))
    with pytest.raises(ValueError, match="broken.yaml"):
        load_text_gate_settings(broken)


def test_gated_share_check_fails_when_most_texts_are_turned_down(tmp_path: Path) -> None:
    """What a broken extractor looks like to regex_text's check: most PDF texts fail a gate."""
    from bmw_assets.defs.text import gated_share_check

    corpus = [
        a
        for a in with_pdf_shapes(build_corpus(size=120), PdfShapeRates(0.0, 0.5, 0.0))
        if any(x.kind == "pdf" for x in a.attachments)
    ][:12]
    catalog = tmp_path / "catalog.duckdb"
    seed_catalog(catalog, tmp_path / "pdfs", corpus)
    gates = load_text_gate_settings()
    update_regex_text(catalog, tmp_path / "text", gates=gates)
    garbled = sum(a.pdf_shape != "good" for a in corpus)
    result = gated_share_check(gated_share(catalog), gates.max_gated_share)
    assert garbled / len(corpus) > gates.max_gated_share
    assert not result.passed and result.metadata["gated"].value == garbled
    assert f"{garbled} of {len(corpus)} articles failed a text gate" in result.description
