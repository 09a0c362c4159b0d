"""The decision cache in the catalog table `llm_decisions`, keyed by
(text_sha256, model, prompt_version).

DuckDB allows one writer per file, so each function opens the catalog briefly; the
endpoint is called between a read and a write, with no connection held.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from bmw_assets.catalog import connect
from bmw_assets.catalog.texts import cached_decisions, replace_decisions


def read_decisions(catalog_path: Path, hashes: Iterable[str], model: str, prompt_version: str) -> dict[str, str]:
    """The cached decision documents (JSON) for `hashes`, by text hash; misses are absent."""
    wanted = sorted(set(hashes))
    if not wanted:
        return {}
    with connect(catalog_path) as con:
        rows = cached_decisions(con, wanted, model, prompt_version)
    return {sha: str(document) for sha, document in rows}


def write_decisions(catalog_path: Path, documents: dict[str, str], model: str, prompt_version: str) -> None:
    """Store decision documents by text hash in one transaction (replacing older ones)."""
    if not documents:
        return
    now = datetime.now(UTC)
    rows = [(sha, model, prompt_version, document, now) for sha, document in sorted(documents.items())]
    with connect(catalog_path) as con:
        replace_decisions(con, rows)
