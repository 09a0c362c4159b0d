"""Fault injection for the replica: which fault (if any) hits the n-th request.

Decisions are deterministic: the same `Faults` (with its seed) and the same request
counter give the same fault, so a failing test can be replayed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any


@dataclass
class Faults:
    """Fault rates (probabilities per request, 0..1), delays in seconds."""

    error_rate: float = 0.0  # 500/503 answers
    throttle_rate: float = 0.0  # 429 with Retry-After
    retry_after_s: int = 1  # value of the Retry-After header, seconds
    latency_s: float = 0.0  # added to every non-admin request
    corrupt_attachment_rate: float = 0.0  # PDF bytes garbled in the middle (still starts with %PDF)
    truncated_attachment_rate: float = 0.0  # transfer cut after half the declared Content-Length
    non_pdf_attachment_rate: float = 0.0  # an HTML error page served as the attachment
    malformed_page_rate: float = 0.0  # HTML/XML cut off mid-document
    reset_rate: float = 0.0  # connection closed without an answer
    seed: int = 0

    def update(self, values: dict[str, Any]) -> None:
        """Set fields from a mapping; raise ValueError naming an unknown field."""
        known = {f.name: f.type for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(sorted(known))}")
            setattr(self, key, type(getattr(self, key))(value))


def choose_fault(faults: Faults, counter: int, *, attachment: bool, document: bool) -> str | None:
    """The fault for request number `counter`: "reset", "error", "throttle", "truncated",
    "corrupt", "non_pdf", "malformed" or None. `attachment`/`document` say whether the
    response is an attachment or an HTML/XML page (content faults apply only to those)."""
    rng = random.Random(f"{faults.seed}:{counter}")
    ordered = [("reset", faults.reset_rate), ("error", faults.error_rate), ("throttle", faults.throttle_rate)]
    if attachment:
        ordered += [("truncated", faults.truncated_attachment_rate), ("corrupt", faults.corrupt_attachment_rate),
                    ("non_pdf", faults.non_pdf_attachment_rate)]
    if document:
        ordered.append(("malformed", faults.malformed_page_rate))
    for name, rate in ordered:
        if rng.random() < rate:
            return name
    return None


def corrupt_bytes(data: bytes, counter: int) -> bytes:
    """Overwrite a stretch in the middle with noise; the `%PDF` header survives."""
    rng = random.Random(counter)
    middle = len(data) // 2
    noise = bytes(rng.randrange(256) for _ in range(min(512, len(data) // 4)))
    return data[:middle] + noise + data[middle + len(noise):]
