"""PDFs that are not the article, served at rates near the real press room's.

In the original project's real run (284 releases), 11 attachments were the release in another
language (the German one for an English article, once the Romanian one), 11 were garbled (a
font without a usable Unicode map, so the extracted characters are not the printed ones) and 2
were only a results table. `with_pdf_shapes` marks articles with these shapes, stable per
article id, and `render_shaped_pdf` renders what each one's first PDF really is:

- `wrong_language:de` / `wrong_language:ro`: the press PDF with the body in German or Romanian;
- `garbled:no_unicode_map`: the text drawn with an embedded TrueType font (DejaVu Sans, shipped
  with matplotlib) whose ToUnicode map is removed, so pypdf reads glyph ids (control characters);
- `garbled:wrong_unicode_map`: the same font with a ToUnicode map that sends each glyph to the
  wrong letter (pypdf reads Latin-looking nonsense);
- `table_only`: the release itself (HTML body and PDF) is a results table.

Each article's `pdf_shape` is its truth ("good" for the rest), for tests and the benchmark.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import random
import re
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from pypdf import PdfWriter
from pypdf.generic import NameObject

from bmw_assets.replica.corpus import FIRST, LAST, ReplicaArticle
from bmw_assets.replica.pdf import render_press_pdf

GOOD = "good"
WRONG_LANGUAGE_DE, WRONG_LANGUAGE_RO = "wrong_language:de", "wrong_language:ro"
GARBLED_NO_MAP, GARBLED_WRONG_MAP = "garbled:no_unicode_map", "garbled:wrong_unicode_map"
TABLE_ONLY = "table_only"
ROMANIAN_SHARE = 1 / 6  # of wrong-language attachments (1 of 11 in the real run)


@dataclass(frozen=True)
class PdfShapeRates:
    """Share of articles (0..1) whose first PDF is another language's release, garbled, or whose
    release is only a table. Defaults: the real run's 11, 11 and 2 of 284 releases, rounded."""

    wrong_language: float = 0.04
    garbled: float = 0.04
    table_only: float = 0.01

    def __post_init__(self) -> None:
        rates = (self.wrong_language, self.garbled, self.table_only)
        if any(r < 0 for r in rates) or sum(rates) > 1:
            raise ValueError(f"PDF shape rates {rates} must be >= 0 and add up to at most 1")


NO_PDF_SHAPES = PdfShapeRates(0.0, 0.0, 0.0)


def shape_kind(shape: str) -> str:
    """ "wrong_language", "garbled", "table_only" or "good" for a `pdf_shape` value."""
    return shape.split(":")[0]


def _unit(key: str) -> float:
    """A number in [0, 1) drawn from `key` alone (the same on every machine and run)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:13], 16) / 16**13


def pdf_shape(article: ReplicaArticle, rates: PdfShapeRates) -> str:
    """What `article`'s first PDF is under `rates`, stable per article id. Raising one rate moves
    only articles of the shapes after it or of no shape."""
    draw = _unit(f"{article.id}:pdf_shape")
    has_pdf = any(a.kind == "pdf" for a in article.attachments)
    variant = _unit(f"{article.id}:pdf_shape_variant")
    if draw < rates.wrong_language:
        return (WRONG_LANGUAGE_RO if variant < ROMANIAN_SHARE else WRONG_LANGUAGE_DE) if has_pdf else GOOD
    if draw < rates.wrong_language + rates.garbled:
        return (GARBLED_NO_MAP if variant < 0.5 else GARBLED_WRONG_MAP) if has_pdf else GOOD
    if draw < rates.wrong_language + rates.garbled + rates.table_only:
        return TABLE_ONLY
    return GOOD


def with_pdf_shapes(corpus: list[ReplicaArticle], rates: PdfShapeRates) -> list[ReplicaArticle]:
    """`corpus` with each article's `pdf_shape` set; table-only releases get a results table as body."""
    shaped = []
    for article in corpus:
        shape = pdf_shape(article, rates)
        if shape == TABLE_ONLY:
            article = _as_results_table(article)
        shaped.append(dataclasses.replace(article, pdf_shape=shape))
    return shaped


# ------------------------------------------------------------------ table-only releases
TOURNAMENTS = ["BMW International Open", "BMW PGA Championship", "BMW Championship", "BMW Ladies Championship"]
NATIONS = ["GER", "ENG", "USA", "ESP", "SWE", "AUS", "RSA", "KOR", "JPN", "FRA", "ITA", "DEN", "NOR", "IRL"]


def _as_results_table(article: ReplicaArticle) -> ReplicaArticle:
    """The release as a leaderboard: a header row and 20-40 result rows, nothing else."""
    rng = random.Random(f"{article.id}:table")
    tournament = rng.choice(TOURNAMENTS)
    year = article.published_at.year
    rows = ["Pos. Player Nation R1 R2 R3 R4 Total To par"]
    scores = sorted(
        (sum(rounds), rounds)
        for rounds in ([rng.randint(64, 75) for _ in range(4)] for _ in range(rng.randint(20, 40)))
    )
    for position, (total, rounds) in enumerate(scores, 1):
        player = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        rows.append(f"{position} {player} {rng.choice(NATIONS)} {' '.join(map(str, rounds))} {total} {total - 288:+d}")
    return dataclasses.replace(
        article,
        title=f"{tournament} {year}: final leaderboard",
        teaser="+++ Final leaderboard +++",
        category=11,
        paragraphs=tuple(rows),
        facts=(),
        slug=f"{tournament.lower().replace(' ', '-')}-{year}-leaderboard",
    )


# ------------------------------------------------------------------ the release in another language
GERMAN = {
    "subjects": [
        "Die BMW Group",
        "Das Entwicklungsteam",
        "Das neue Modell",
        "Das Unternehmen",
        "Das Projektteam",
        "Das Designteam",
        "Die Vertriebsorganisation",
        "Jede neue Generation",
        "Das Produktionsnetzwerk",
        "Das Team in München",
        "Die neueste Aktualisierung",
        "Das Partnernetzwerk",
    ],
    "nouns": [
        "Fahrdynamik",
        "Innenraumqualität",
        "Ladeleistung",
        "Softwarearchitektur",
        "Materialauswahl",
        "Fahrwerksabstimmung",
        "Displaytechnologie",
        "Energierückgewinnung",
        "Lieferkette",
        "Bedienlogik",
        "Lichtgestaltung",
        "Aerodynamik",
        "Sitzergonomie",
        "Reichweitenplanung",
        "Produktionsqualität",
        "Batteriechemie",
        "Zellversorgung",
        "Markenpräsenz",
        "Qualitätssicherung",
        "Antriebseffizienz",
        "Klimatisierung",
        "Navigation",
        "Sprachsteuerung",
        "Kreislaufwirtschaft",
        "Logistik",
        "Ladeinfrastruktur",
        "Digitalisierung",
        "Kundenerfahrung",
        "Fertigungstiefe",
        "Geräuschdämmung",
    ],
    "adjectives": [
        "effizient",
        "sportlich",
        "elegant",
        "intelligent",
        "vernetzt",
        "nachhaltig",
        "dynamisch",
        "robust",
        "modular",
        "intuitiv",
        "leicht",
        "progressiv",
        "digital",
        "kraftvoll",
        "ausgewogen",
        "kompakt",
        "hochwertig",
        "präzis",
        "souverän",
        "durchdacht",
    ],
    "templates": [
        "{s} setzt neue Maßstäbe bei der {n}{t}.",
        "{s} verbindet {a}e {n} mit {a2}er {n2}.",
        "{s} profitiert von {a}er {n}{t}.",
        "{s} legt besonderen Wert auf {a}e {n}.",
        "{s} bringt die {n} auf ein neues Niveau.",
        "{s} wurde umfassend auf die {n} hin getestet.",
        "{s} bietet serienmäßig {a}e {n}{t}.",
        "{s} konzentriert sich konsequent auf die {n}.",
        "{s} erweitert den Umfang der {n} deutlich.",
        "{s} macht die {n} spürbar {a}er.",
        "{s} steht für {a}e {n} und {a2}e {n2}.",
        "{s} reduziert die Komplexität der {n}{t}.",
    ],
    "tails": [
        "",
        "",
        " im Alltag",
        " ab dem ersten Kilometer",
        " ohne Kompromisse",
        " in den kommenden Jahren",
        " für Kunden weltweit",
        " im Vergleich zum Vorgängermodell",
        " auf langen Strecken und in der Stadt",
    ],
    "quote": '"Wir sind stolz auf das, was das Team erreicht hat", sagte {p}.',
    "dateline": "München. ",
    "title": "Presse-Information: {title}",
}
ROMANIAN = {  # written without the comma-below letters, which the PDF's core fonts lack (as often seen)
    "subjects": [
        "Grupul BMW",
        "Echipa de dezvoltare",
        "Noul model",
        "Compania",
        "Echipa de proiect",
        "Reteaua de productie",
        "Fiecare noua generatie",
        "Echipa de design",
        "Organizatia de vânzari",
    ],
    "nouns": [
        "dinamica de conducere",
        "calitatea interiorului",
        "performanta de încarcare",
        "arhitectura software",
        "eficienta energetica",
        "siguranta pasagerilor",
        "tehnologia de afisare",
        "aerodinamica",
        "calitatea productiei",
        "chimia bateriei",
        "logistica",
        "navigatia",
        "comanda vocala",
        "economia circulara",
        "experienta clientilor",
        "reteaua de dealeri",
        "asigurarea calitatii",
    ],
    "adjectives": [
        "eficienta",
        "precisa",
        "sportiva",
        "eleganta",
        "inteligenta",
        "conectata",
        "durabila",
        "dinamica",
        "moderna",
        "robusta",
        "intuitiva",
        "digitala",
        "echilibrata",
        "flexibila",
    ],
    "templates": [
        "{s} pune accent pe {n} {a}{t}.",
        "{s} stabileste noi standarde pentru {n}.",
        "{s} combina {n} {a} cu {n2} {a2}.",
        "{s} beneficiaza de {n} {a}{t}.",
        "{s} a fost testat intens pentru {n}.",
        "{s} ofera de serie {n} {a}{t}.",
        "{s} aduce {n} la un nou nivel.",
        "{s} se concentreaza în mod constant pe {n}.",
    ],
    "tails": [
        "",
        "",
        " în utilizarea zilnica",
        " fara compromisuri",
        " în anii urmatori",
        " pentru clientii din întreaga lume",
        " în comparatie cu modelul anterior",
    ],
    "quote": '"Suntem mândri de ceea ce a realizat echipa", a declarat {p}.',
    "dateline": "München. ",
    "title": "Comunicat de presa: {title}",
}


def _sentence(bank: dict, rng: random.Random) -> str:
    if rng.random() < 0.08:
        return bank["quote"].format(p=f"{rng.choice(FIRST)} {rng.choice(LAST)}")
    (a, a2), (n, n2) = rng.sample(bank["adjectives"], 2), rng.sample(bank["nouns"], 2)
    return rng.choice(bank["templates"]).format(
        s=rng.choice(bank["subjects"]), a=a, a2=a2, n=n, n2=n2, t=rng.choice(bank["tails"])
    )


def foreign_release(article: ReplicaArticle, language: str) -> ReplicaArticle:
    """`article` as the release in `language` ("de" or "ro"): as many paragraphs, of filler
    sentences in that language; names in the title stay."""
    bank = {"de": GERMAN, "ro": ROMANIAN}[language]
    rng = random.Random(f"{article.id}:{language}")
    paragraphs = [" ".join(_sentence(bank, rng) for _ in range(rng.randint(3, 6))) for _ in article.paragraphs]
    paragraphs[0] = bank["dateline"] + paragraphs[0]
    return dataclasses.replace(
        article,
        language=language,
        title=bank["title"].format(title=article.title),
        teaser="+++ " + bank["title"].format(title="").strip(" :") + " +++",
        paragraphs=tuple(paragraphs),
    )


# ------------------------------------------------------------------ fonts without a usable Unicode map
def _font_dir() -> Path:
    import matplotlib  # a dependency of the project; it ships the DejaVu fonts

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _embedded_font_pdf(article: ReplicaArticle) -> bytes:
    """`article` as a press PDF set in an embedded TrueType font (fpdf2 writes a correct ToUnicode map)."""
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_creation_date(article.published_at)
    pdf.set_margins(22, 20, 22)
    for style, file in (("", "DejaVuSans.ttf"), ("B", "DejaVuSans-Bold.ttf")):
        pdf.add_font("DejaVu", style, str(_font_dir() / file))
    pdf.add_page()
    d = article.published_at
    for style, size, text in (
        ("B", 9, "BMW Group"),
        ("", 9, "Corporate Communications"),
        ("B", 11, "Media Information"),
        ("", 8, f"{d.day:02d}.{d.month:02d}.{d.year}"),
    ):
        pdf.set_font("DejaVu", style, size)
        pdf.cell(0, 4.5, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 13)
    pdf.multi_cell(0, 6, article.title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("DejaVu", "", 10)
    for paragraph in article.paragraphs:
        pdf.multi_cell(0, 4.8, paragraph, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2.5)
    return bytes(pdf.output())


_BFCHAR = re.compile(rb"<([0-9A-F]{4})> <([0-9A-F]{4})>")
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _wrong_map(cmap: bytes, rng: random.Random) -> bytes:
    """The ToUnicode CMap `cmap` with every letter and digit sent to another one (a fixed
    derangement), as a map built for a different subset of the font would."""
    shuffled = list(_ALPHABET)
    while any(a == b for a, b in zip(shuffled, _ALPHABET, strict=True)):
        rng.shuffle(shuffled)
    swap = dict(zip(_ALPHABET, shuffled, strict=True))

    def remap(match: re.Match[bytes]) -> bytes:
        char = chr(int(match.group(2), 16))
        return b"<%s> <%04X>" % (match.group(1), ord(swap.get(char, char)))

    return _BFCHAR.sub(remap, cmap)


def render_garbled_pdf(article: ReplicaArticle, shape: str) -> bytes:
    """`article`'s press PDF, printed correctly, whose text pypdf cannot read: the embedded font's
    ToUnicode map removed (`garbled:no_unicode_map`) or wrong (`garbled:wrong_unicode_map`)."""
    writer = PdfWriter(clone_from=io.BytesIO(_embedded_font_pdf(article)))
    rng = random.Random(f"{article.id}:cmap")
    for page in writer.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            if shape == GARBLED_NO_MAP:
                font.pop(NameObject("/ToUnicode"), None)
            else:
                cmap = font["/ToUnicode"].get_object()
                cmap.set_data(_wrong_map(cmap.get_data(), rng))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def render_shaped_pdf(article: ReplicaArticle) -> bytes:
    """The bytes of `article`'s first PDF as its `pdf_shape` says (the press PDF when "good")."""
    shape = article.pdf_shape
    if shape.startswith("wrong_language:"):
        return render_press_pdf(foreign_release(article, shape.split(":")[1]))
    if shape_kind(shape) == "garbled":
        return render_garbled_pdf(article, shape)
    return render_press_pdf(article)
