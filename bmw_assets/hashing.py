"""Content hashes used as identities across the project (stdlib only: the training and
evaluation processes import it on hosts without Dagster)."""

import hashlib
import json
from pathlib import Path
from typing import Any


def sha256_text(text: str) -> str:
    """Hex sha256 of `text` as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_json(value: Any) -> str:
    """Hex sha256 of `value` as canonical JSON (sorted keys, no spaces): equal values, equal hash."""
    return sha256_text(json.dumps(value, sort_keys=True, separators=(",", ":")))


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in blocks (memory stays small for multi-GB weights)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
