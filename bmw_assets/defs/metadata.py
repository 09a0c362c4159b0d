"""Metadata values the UI renders: markdown tables and PNG plots inlined as images."""

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg


def markdown_table(rows: Sequence[dict[str, Any]]) -> dg.MarkdownMetadataValue:
    """Rows of equal keys as a markdown table; missing values show as an em dash, never as zero."""
    if not rows:
        return dg.MetadataValue.md("_no rows_")
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = ["—" if row.get(h) is None else str(row[h]).replace("|", "\\|") for h in header]
        lines.append("| " + " | ".join(cells) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def markdown_image(png_path: Path, alt: str) -> dg.MarkdownMetadataValue:
    """A PNG inlined as a data URI, so the UI shows it without serving files."""
    encoded = base64.b64encode(Path(png_path).read_bytes()).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")
