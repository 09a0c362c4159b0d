"""Metadata values the UI renders: markdown tables and PNG plots inlined as images."""

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from bmw_assets.evaluation.verdict import significant


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


def _column_type(values: Sequence[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "bool"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int"
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "float"
    return "string"


def metadata_table(rows: Sequence[dict[str, Any]], descriptions: dict[str, str] | None = None) -> dg.TableMetadataValue:
    """Rows of equal keys as a Dagster table (sortable in the UI); column types from the values,
    None stays empty. `descriptions` explains columns by name."""
    header = list(rows[0]) if rows else []
    descriptions = descriptions or {}
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(h, _column_type([r.get(h) for r in rows]), description=descriptions.get(h)) for h in header
        ]
    )
    return dg.MetadataValue.table(records=[dg.TableRecord({h: r.get(h) for h in header}) for r in rows], schema=schema)


def rounded(value: Any) -> Any:
    """A float, plain or as float metadata, to SIGNIFICANT_DIGITS significant digits; anything else as it is."""
    if isinstance(value, dg.FloatMetadataValue):
        return value if value.value is None else significant(value.value)
    return significant(value)
