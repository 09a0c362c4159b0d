"""Press-release PDFs for the replica, rendered with fpdf2.

The text layer holds the article body plus the furniture real PressClub PDFs carry, mixed
per article by `release_layout` (headers, a consumption footnote in front of a body paragraph
across a page break, consumption notes, contact block, media desk and social-media lines,
company profile), page numbers ("Page 2", or "Seite 2" on some), photo codes (P90xxxxxx) and
the address block in the footer. Long words are hyphenated across line ends ("produc-" /
"tion"), so body text is recovered only after joining them. Rendering is deterministic (fixed creation date), so
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
from bmw_assets.replica.furniture import ADDRESS_LINES
from bmw_assets.replica.release_layout import FOOTNOTE_PT, release_layout

LINE_MM = 4.8
BODY_PT = 10
HYPHENATION_SHARE = 0.5  # of line ends where a long word could be split
_SPLITTABLE = re.compile(r"([A-Za-z]{8,})([.,;:]?)")


class _PressPdf(FPDF):
    def __init__(self, article: ReplicaArticle, page_word: str, rng: random.Random):
        super().__init__(format="A4", unit="mm")
        self.article, self.page_word, self.rng = article, page_word, rng
        self.layout = release_layout(article)
        self.set_margins(22, 20, 22)
        self.set_auto_page_break(True, margin=32)

    def header(self) -> None:
        for block in self.layout.header_lines(self.article, self.page_no(), self.page_word):
            self.set_font("Helvetica", block.style, block.size)
            self.cell(0, block.size * 0.5, _latin1(block.text), new_x="LMARGIN", new_y="NEXT")
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
    footnote_at, footnote = pdf.layout.footnote or (None, "")
    for index, paragraph in enumerate(article.paragraphs):
        if index == footnote_at:
            # A footnote at the foot of a page, then the page break: pypdf reads it just before the next paragraph.
            pdf.write_block(footnote, size=FOOTNOTE_PT, hyphenate=False)
            pdf.add_page()
        pdf.write_block(paragraph)
        pdf.ln(2.5)
    for block in pdf.layout.tail:
        if block.text:
            pdf.write_block(block.text, block.style, block.size, hyphenate=block.hyphenate)
        else:
            pdf.ln(2.5)
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
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    operations = b"BT /F9 9 Tf 20 800 Td " + b"(slow) Tj 0 -0.01 Td " * SLOW_PAGE_OPERATIONS + b"ET"
    for _ in range(SLOW_PAGES):
        page = writer.add_blank_page(595, 842)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F9"): font})}
        )
        stream = DecodedStreamObject()
        stream.set_data(operations)
        page.replace_contents(stream)
        page.compress_content_streams()
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
