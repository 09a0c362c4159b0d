"""Fault injection for the replica: which fault (if any) hits a request, and which documents are pathological.

Decisions are deterministic: a transfer fault depends on the seed and a request key
(the server uses "<path?query>#<n>" for the n-th request of that URL), so each URL sees
the same sequence of faults however concurrent requests interleave, and a failing test
can be replayed. Document faults (a huge or slow-to-parse PDF) are properties of an
attachment: every request for it gets the same file.
"""

from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass, fields
from typing import Any, NamedTuple


@dataclass
class Faults:
    """Fault rates (probabilities per request or per document, 0..1), delays in seconds, sizes in bytes."""

    error_rate: float = 0.0  # 500/503 answers
    throttle_rate: float = 0.0  # 429 with Retry-After
    retry_after_s: int = 1  # value of the Retry-After header, seconds
    throttle_route: str = ""  # when set, only requests of this route kind ("detail", "attachment"...) are throttled
    latency_s: float = 0.0  # added to every non-admin request
    spike_rate: float = 0.0  # requests delayed by a further spike_s (a latency spike)
    spike_s: float = 2.0
    corrupt_attachment_rate: float = 0.0  # PDF bytes garbled in the middle (still starts with %PDF)
    truncated_attachment_rate: float = 0.0  # transfer cut after half the declared Content-Length
    non_pdf_attachment_rate: float = 0.0  # an HTML error page served as the attachment
    drip_attachment_rate: float = 0.0  # attachment bodies sent one byte every drip_interval_s
    drip_interval_s: float = 5.0
    malformed_page_rate: float = 0.0  # HTML/XML cut off mid-document
    feed_end_rate: float = 0.0  # a feed page past the first answered as if the feed had ended (HTML, not XML)
    feed_control_char_rate: float = 0.0  # a feed page with a control character in one item's title (not XML)
    feed_control_char_hides_id: bool = False  # ...which also stands in for that item's article id
    reset_rate: float = 0.0  # connection closed without an answer
    huge_pdf_rate: float = 0.0  # share of PDF attachments padded to huge_pdf_bytes (a valid PDF)
    huge_pdf_bytes: int = 3_000_000
    slow_pdf_rate: float = 0.0  # share of PDF attachments whose text takes pypdf many seconds to extract
    bomb_pdf_rate: float = 0.0  # share of PDF attachments that are deflate bombs (bomb_inflated_bytes of content)
    bomb_inflated_bytes: int = 512 * 1024 * 1024
    damaged_pdf_rate: float = 0.0  # share of PDF attachments whose last page's content stream object is garbage
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


def choose_fault(
    faults: Faults,
    counter: int | str,
    *,
    attachment: bool,
    document: bool,
    feed: bool = False,
    later_feed_page: bool = False,
) -> str | None:
    """The fault for the request keyed `counter`: "reset", "error", "throttle", "truncated",
    "corrupt", "non_pdf", "drip", "malformed", "control_char", "feed_end" or None.
    `attachment`/`document` say whether the response is an attachment or an HTML/XML page
    (content faults apply only to those); `feed` whether it is a feed page; `later_feed_page`
    whether it is one past the first (only those can end a feed early)."""
    rng = random.Random(f"{faults.seed}:{counter}")
    ordered = [("reset", faults.reset_rate), ("error", faults.error_rate), ("throttle", faults.throttle_rate)]
    if attachment:
        ordered += [
            ("truncated", faults.truncated_attachment_rate),
            ("corrupt", faults.corrupt_attachment_rate),
            ("non_pdf", faults.non_pdf_attachment_rate),
            ("drip", faults.drip_attachment_rate),
        ]
    if document:
        ordered.append(("malformed", faults.malformed_page_rate))
    if later_feed_page:
        ordered.append(("feed_end", faults.feed_end_rate))
    if feed:  # drawn last: the knobs added later leave the earlier ones' draws as they were
        ordered.append(("control_char", faults.feed_control_char_rate))
    for name, rate in ordered:
        if rng.random() < rate:
            return name
    return None


def request_delay(faults: Faults, counter: int | str) -> float:
    """Seconds to hold the request keyed `counter`: the fixed latency plus a spike on some requests."""
    spike = random.Random(f"{faults.seed}:{counter}:spike").random() < faults.spike_rate
    return faults.latency_s + (faults.spike_s if spike else 0.0)


def document_fault(faults: Faults, attachment_id: int) -> str | None:
    """ "huge", "slow", "bomb", "damaged" or None: what kind of PDF attachment `attachment_id` is
    (the same on every request)."""
    roll = random.Random(f"{faults.seed}:document:{attachment_id}").random()
    for kind, rate in (
        ("huge", faults.huge_pdf_rate),
        ("slow", faults.slow_pdf_rate),
        ("bomb", faults.bomb_pdf_rate),
        ("damaged", faults.damaged_pdf_rate),
    ):
        if roll < rate:
            return kind
        roll -= rate
    return None


def deflate_bomb_pdf(inflated_bytes: int) -> bytes:
    """A well-formed one-page PDF whose content stream (spaces) inflates to `inflated_bytes`
    from about a thousandth of that."""
    compressor, slice_bytes = zlib.compressobj(9), 1024 * 1024
    stream = bytearray()
    for start in range(0, inflated_bytes, slice_bytes):
        stream += compressor.compress(b" " * min(slice_bytes, inflated_bytes - start))
    stream += compressor.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + bytes(stream) + b"\nendstream",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def damage_last_page(pdf: bytes) -> bytes:
    """`pdf` with the object header of its last page's content stream overwritten by noise: a
    damaged page object that pypdf reads past (the page's text is lost, the file still opens)."""
    number = re.findall(rb"/Contents (\d+) 0 R", pdf)[-1]
    start = pdf.index(b"\n%s 0 obj" % number) + 1
    noise = bytes(random.Random(start).randrange(256) for _ in range(40))
    return pdf[:start] + noise + pdf[start + len(noise) :]


def control_char_in_an_item(feed_xml: bytes, counter: int | str, garble_id: bool = False) -> bytes:
    """The feed with a control character (not allowed in XML) in one item's title; with
    `garble_id`, the control character also stands in for that item's article id everywhere,
    so nothing in the item names the article any more."""
    items = list(re.finditer(rb"<item>\s*<title>.*?</item>", feed_xml, re.S))
    if not items:
        return feed_xml
    item = random.Random(f"{counter}:control").choice(items)
    damaged = item.group(0).replace(b"<title>", b"<title>\x01", 1)
    if garble_id:
        damaged = re.sub(rb"T\d{7}[A-Z]{2}(?:_[A-Z]{2})?", b"T\x01", damaged)
    return feed_xml[: item.start()] + damaged + feed_xml[item.end() :]


def corrupt_bytes(data: bytes, counter: int | str) -> bytes:
    """Overwrite a stretch in the middle with noise; the `%PDF` header survives."""
    rng = random.Random(counter)
    middle = len(data) // 2
    noise = bytes(rng.randrange(256) for _ in range(min(512, len(data) // 4)))
    return data[:middle] + noise + data[middle + len(noise) :]
