"""Fault injection for the replica: which fault (if any) hits a request, and which documents are pathological.

Decisions are deterministic: a transfer fault depends on the seed and a request key
(the server uses "<path?query>#<n>" for the n-th request of that URL), so each URL sees
the same sequence of faults however concurrent requests interleave, and a failing test
can be replayed. Document faults (a huge or slow-to-parse PDF) are properties of an
attachment: every request for it gets the same file.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any, NamedTuple


@dataclass
class Faults:
    """Fault rates (probabilities per request or per document, 0..1), delays in seconds, sizes in bytes."""

    error_rate: float = 0.0  # 500/503 answers
    throttle_rate: float = 0.0  # 429 with Retry-After
    retry_after_s: int = 1  # value of the Retry-After header, seconds
    latency_s: float = 0.0  # added to every non-admin request
    spike_rate: float = 0.0  # requests delayed by a further spike_s (a latency spike)
    spike_s: float = 2.0
    corrupt_attachment_rate: float = 0.0  # PDF bytes garbled in the middle (still starts with %PDF)
    truncated_attachment_rate: float = 0.0  # transfer cut after half the declared Content-Length
    non_pdf_attachment_rate: float = 0.0  # an HTML error page served as the attachment
    malformed_page_rate: float = 0.0  # HTML/XML cut off mid-document
    feed_end_rate: float = 0.0  # a feed page past the first answered as if the feed had ended (HTML, not XML)
    reset_rate: float = 0.0  # connection closed without an answer
    huge_pdf_rate: float = 0.0  # share of PDF attachments padded to huge_pdf_bytes (a valid PDF)
    huge_pdf_bytes: int = 3_000_000
    slow_pdf_rate: float = 0.0  # share of PDF attachments whose text takes pypdf many seconds to extract
    seed: int = 0

    def update(self, values: dict[str, Any]) -> None:
        """Set fields from a mapping; raise ValueError naming an unknown field."""
        known = {f.name: f.type for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(sorted(known))}")
            setattr(self, key, type(getattr(self, key))(value))


class FaultEvent(NamedTuple):
    """What the replica did to one request: its URL path (with query), fault name or None, delay in seconds."""

    path: str
    fault: str | None
    delay_s: float


def choose_fault(faults: Faults, counter: int | str, *, attachment: bool, document: bool,
                 later_feed_page: bool = False) -> str | None:
    """The fault for the request keyed `counter`: "reset", "error", "throttle", "truncated",
    "corrupt", "non_pdf", "malformed", "feed_end" or None. `attachment`/`document` say whether
    the response is an attachment or an HTML/XML page (content faults apply only to those);
    `later_feed_page` whether it is a feed page past the first (only those can end a feed early)."""
    rng = random.Random(f"{faults.seed}:{counter}")
    ordered = [("reset", faults.reset_rate), ("error", faults.error_rate), ("throttle", faults.throttle_rate)]
    if attachment:
        ordered += [("truncated", faults.truncated_attachment_rate), ("corrupt", faults.corrupt_attachment_rate),
                    ("non_pdf", faults.non_pdf_attachment_rate)]
    if document:
        ordered.append(("malformed", faults.malformed_page_rate))
    if later_feed_page:
        ordered.append(("feed_end", faults.feed_end_rate))
    for name, rate in ordered:
        if rng.random() < rate:
            return name
    return None


def request_delay(faults: Faults, counter: int | str) -> float:
    """Seconds to hold the request keyed `counter`: the fixed latency plus a spike on some requests."""
    spike = random.Random(f"{faults.seed}:{counter}:spike").random() < faults.spike_rate
    return faults.latency_s + (faults.spike_s if spike else 0.0)


def document_fault(faults: Faults, attachment_id: int) -> str | None:
    """"huge", "slow" or None: what kind of PDF attachment `attachment_id` is (the same on every request)."""
    roll = random.Random(f"{faults.seed}:document:{attachment_id}").random()
    if roll < faults.huge_pdf_rate:
        return "huge"
    if roll < faults.huge_pdf_rate + faults.slow_pdf_rate:
        return "slow"
    return None


def corrupt_bytes(data: bytes, counter: int | str) -> bytes:
    """Overwrite a stretch in the middle with noise; the `%PDF` header survives."""
    rng = random.Random(counter)
    middle = len(data) // 2
    noise = bytes(rng.randrange(256) for _ in range(min(512, len(data) // 4)))
    return data[:middle] + noise + data[middle + len(noise):]
