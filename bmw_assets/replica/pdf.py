"""Press-release PDFs for the replica, rendered with fpdf2.

The text layer holds the article body plus the furniture real PressClub PDFs carry:
"Corporate Communications" / "Media Information" headers, date, subject and page lines
("Page 2", or "Seite 2" on some), photo codes (P90xxxxxx), consumption line and WLTP/NEDC
disclaimer, contact block (name, phone, fax, e-mail), media website and social-media
lines, the company profile (English, on some also German) and the address block in the
footer. Long words are hyphenated across line ends ("produc-" / "tion"), so body text is
recovered only after joining them. Rendering is deterministic (fixed creation date), so
the same article revision always gives the same bytes and sha256.
"""

from __future__ import annotations

import io
import random
import re

from fpdf import FPDF
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from bmw_assets.replica.corpus import ReplicaArticle
from bmw_assets.replica.furniture import (
    ABOUT_DE,
    ABOUT_EN,
    ABOUT_HEADING_DE,
    ABOUT_HEADING_EN,
    ADDRESS_LINES,
    CONSUMPTION_NOTE,
    CONTACT_INTRO,
    FAX,
    MEDIA_WEBSITE,
    PRESS_EMAIL,
    SOCIAL_LINES,
    consumption_summary,
    contact_for,
    has_german_about,
    photo_codes,
)

LINE_MM = 4.8
BODY_PT = 10
HYPHENATION_SHARE = 0.5  # of line ends where a long word could be split
_SPLITTABLE = re.compile(r"([A-Za-z]{8,})([.,;:]?)")
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]


class _PressPdf(FPDF):
    def __init__(self, article: ReplicaArticle, page_word: str, rng: random.Random):
        super().__init__(format="A4", unit="mm")
        self.article, self.page_word, self.rng = article, page_word, rng
        self.set_margins(22, 20, 22)
        self.set_auto_page_break(True, margin=32)

    def header(self) -> None:
        d = self.article.published_at
        self.set_font("Helvetica", "B", 9)
        self.cell(0, 4.5, "BMW Group", new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 9)
        self.cell(0, 4.5, "Corporate Communications", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)
        self.set_font("Helvetica", "B", 11)
        self.cell(0, 5.5, "Media Information", new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 8)
        self.cell(0, 4, f"Date {d.day} {MONTHS[d.month - 1]} {d.year}", new_x="LMARGIN", new_y="NEXT")
        subject = self.article.title if len(self.article.title) <= 90 else self.article.title[:87] + "..."
        self.cell(0, 4, f"Subject {_latin1(subject)}", new_x="LMARGIN", new_y="NEXT")
        self.cell(0, 4, f"{self.page_word} {self.page_no()}", new_x="LMARGIN", new_y="NEXT")
        self.ln(5)

    def footer(self) -> None:
        self.set_y(-26)
        self.set_font("Helvetica", "", 6.5)
        for line in ADDRESS_LINES:
            self.cell(0, 3.2, _latin1(line), new_x="LMARGIN", new_y="NEXT")

    def write_block(self, text: str, style: str = "", size: float = BODY_PT, hyphenate: bool = True) -> None:
        """Write `text` wrapped to the page width, hyphenating long words at line ends."""
        self.set_font("Helvetica", style, size)
        width = self.epw
        line = ""
        for word in _latin1(text).split():
            candidate = f"{line} {word}" if line else word
            if self.get_string_width(candidate) <= width:
                line = candidate
                continue
            # Hyphenate some line ends, not all, like a typesetter with a tolerance.
            match = _SPLITTABLE.fullmatch(word) if hyphenate and self.rng.random() < HYPHENATION_SHARE else None
            if match:
                letters, punct = match.groups()
                prefix = f"{line} " if line else ""
                # Longest head (>= 3 letters, >= 3 left over) that fits with its hyphen.
                for cut in range(len(letters) - 3, 2, -1):
                    if self.get_string_width(prefix + letters[:cut] + "-") <= width:
                        self._line(prefix + letters[:cut] + "-")
                        line = letters[cut:] + punct
                        break
                else:
                    self._line(line)
                    line = word
                continue
            self._line(line)
            line = word
        if line:
            self._line(line)

    def _line(self, text: str) -> None:
        if text:
            self.cell(0, LINE_MM, text, new_x="LMARGIN", new_y="NEXT")


def _latin1(text: str) -> str:
    # The core fonts encode latin-1 only; replace typographic characters they lack.
    text = text.replace("\u2019", "'").replace("\u2013", "-").replace("\u201c", '"').replace("\u201d", '"')
    return text.encode("latin-1", "replace").decode("latin-1")


def render_press_pdf(article: ReplicaArticle) -> bytes:
    """Render `article` as a press-release PDF; returns the file's bytes (%PDF...)."""
    rng = random.Random(f"{article.id}:{article.revision}:pdf")
    pdf = _PressPdf(article, "Seite" if rng.random() < 0.25 else "Page", rng)
    pdf.set_creation_date(article.published_at)
    pdf.set_title(_latin1(article.title))
    pdf.set_author("BMW Group Corporate Communications")
    pdf.add_page()
    pdf.write_block(article.title, "B", 13, hyphenate=False)
    pdf.ln(2)
    pdf.write_block(article.teaser.replace("+++", "").strip().replace("  ", " - "), "I", 10, hyphenate=False)
    pdf.ln(3)
    for paragraph in article.paragraphs:
        pdf.write_block(paragraph)
        pdf.ln(2.5)
    pdf.write_block(consumption_summary(article), size=8, hyphenate=False)
    pdf.ln(1.5)
    pdf.write_block(CONSUMPTION_NOTE, size=7.5)
    pdf.ln(2.5)
    pdf.write_block("Photos: " + ", ".join(photo_codes(article)), size=8)
    pdf.ln(3)
    contact = contact_for(article)
    for text in (CONTACT_INTRO, "Corporate Communications", contact.name, contact.title,
                 f"Telephone: {contact.phone}", f"Fax: {FAX}", f"E-mail: {contact.email}", "",
                 f"Media website: {MEDIA_WEBSITE}", f"E-mail: {PRESS_EMAIL}", "", *SOCIAL_LINES):
        if text:
            pdf.write_block(text, size=8.5, hyphenate=False)
        else:
            pdf.ln(2)
    pdf.ln(3)
    pdf.write_block(ABOUT_HEADING_EN, "B", 8.5)
    pdf.write_block(ABOUT_EN, size=8.5)
    if has_german_about(article):
        pdf.ln(2)
        pdf.write_block(ABOUT_HEADING_DE, "B", 8.5)
        pdf.write_block(ABOUT_DE, size=8.5)
    return bytes(pdf.output())


# Pages of tiny text moves: ~20 KB compressed, yet pypdf needs ~0.75 s per page to extract them.
SLOW_PAGES = 40
SLOW_PAGE_OPERATIONS = 30_000


def pad_pdf(data: bytes, total_bytes: int, seed: int) -> bytes:
    """The PDF `data` grown to about `total_bytes` by an embedded file of random (incompressible)
    bytes; still a valid PDF with the same pages and text."""
    writer = PdfWriter(clone_from=io.BytesIO(data))
    writer.add_attachment("padding.bin", random.Random(seed).randbytes(max(0, total_bytes - len(data))))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def render_slow_pdf(article: ReplicaArticle) -> bytes:
    """`article`'s press PDF followed by `SLOW_PAGES` pathological pages: a complete, valid,
    small PDF whose text extraction keeps pypdf busy for tens of seconds."""
    writer = PdfWriter(clone_from=io.BytesIO(render_press_pdf(article)))
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    operations = b"BT /F9 9 Tf 20 800 Td " + b"(slow) Tj 0 -0.01 Td " * SLOW_PAGE_OPERATIONS + b"ET"
    for _ in range(SLOW_PAGES):
        page = writer.add_blank_page(595, 842)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F9"): font})})
        stream = DecodedStreamObject()
        stream.set_data(operations)
        page.replace_contents(stream)
        page.compress_content_streams()
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
