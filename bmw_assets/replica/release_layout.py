"""What a replica press PDF prints around the body, mixed per article from its id: the page
header, a consumption footnote that a page break puts in front of a body paragraph, and the
furniture after the body (consumption notes, contact block, company profile).

The shapes follow real BMW Group releases (see PRESSCLUB.md, "Real furniture shapes"); the
wording, people and figures are made up. Several generations are mixed so the cleaning is
measured on all of them:

- headers: the classic "Corporate Communications / Media Information / Date / Subject / Page"
  block; "Press Information" with "Date"/"Subject"/"Page" rows or "Topic"/"Thema"; the press
  kit's "BMW Group Media Information 03/2016 Page 1" line on every page; "CONFIDENTIAL";
- contacts: the classic block, or an opener sentence (English or German) or a heading ending
  in a period ("Press Contact.") with entries separated by blank lines, each "Name, Title" or
  a name then a title line, phone and e-mail on one line, "Tel.:" alone, e-mail with a
  trailing comma;
- consumption: the classic line + WLTP note, WLTP footnotes without a final period (some
  "l /100 km"), or long NEDC-era disclaimers;
- company profile: the classic one, "With its four brands…", the older "The success of the
  BMW Group has always been based on long-term thinking…", German, sometimes with its heading
  glued to the last contact's name line.

Everything here is furniture: the ground-truth body of a release is `ReplicaArticle.body_text`;
`furniture_text` lists what the layout adds, for scoring and for training the furniture
classifier.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bmw_assets.replica.corpus import FAMILIES, FIRST, LAST, MONTHS, VARIANTS, ReplicaArticle
from bmw_assets.replica.furniture import (
    ABOUT_DE,
    ABOUT_EN,
    ABOUT_HEADING_DE,
    ABOUT_HEADING_EN,
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

FOOTNOTE_PT = 7.5
SMALL_PT = 8.5


@dataclass(frozen=True)
class Printed:
    """One block of printed text (wrapped to the page width), or a vertical gap when `text` is ""."""

    text: str
    style: str = ""
    size: float = SMALL_PT
    hyphenate: bool = False


GAP = Printed("")

CONTACT_OPENERS = (
    "In case of queries, please contact:",
    "If you have any questions, please contact:",
    "For further questions please contact:",
    "In the event of enquiries, please contact:",
    "Bitte wenden Sie sich bei Rückfragen an:",
)
CONTACT_HEADINGS = ("Press Contact.", "Media Contact.", "Press contacts.", "Contact.")
CONTACT_TITLES = (
    "Communications Finance",
    "spokesperson Corporate Citizenship",
    "Spokesperson Product Communications BMW",
    "Head of Communications MINI",
    "Press Officer BMW Motorrad",
    "Communications Sales and Marketing",
    "spokesperson Sustainability and Mobility",
    "Head of Corporate Communications",
    "Sprecherin Produktkommunikation",
    "Technology Communications",
    "Spokesperson Production Network",
    "Press and PR BMW M",
)
CONTACT_DOMAINS = ("bmw.de", "bmwgroup.com", "bmw.com", "mini.com")

PROFILE_FOUR_BRANDS = (
    "With its four brands BMW, MINI, Rolls-Royce and BMW Motorrad, the BMW Group is the world's leading premium "
    "manufacturer of automobiles and motorcycles and also provides premium financial and mobility services. The BMW "
    "Group production network comprises over {sites} production sites worldwide; the company has a global sales "
    "network in more than 140 countries.",
    "In {year}, the BMW Group sold over {cars} million passenger vehicles and more than {bikes} motorcycles worldwide. "
    "The profit before tax in the financial year {year} was EUR {profit} billion on revenues amounting to EUR {revenue} "
    "billion. As of 31 December {year}, the BMW Group had a workforce of {staff} employees.",
    "The economic success of the BMW Group has always been based on long-term thinking and responsible action. "
    "Sustainability is a key element of the corporate strategy, from the supply chain through production to the end "
    "of the use phase of all products.",
)
PROFILE_OLD = (
    "The BMW Group is the world's leading premium manufacturer of automobiles and motorcycles and also provides "
    "premium financial and mobility services. As a global company, the BMW Group operates {sites} production and "
    "assembly facilities in {countries} countries and has a global sales network in more than 140 countries.",
    "In {year}, the BMW Group sold approximately {cars} million cars and {bikes} motorcycles worldwide. The profit "
    "before tax for the financial year {year} was approximately EUR {profit} billion on revenues amounting to "
    "EUR {revenue} billion. As of 31 December {year}, the BMW Group had a workforce of approximately {staff} employees.",
    "The success of the BMW Group has always been based on long-term thinking and responsible action. The company "
    "has therefore established ecological and social sustainability throughout the value chain, comprehensive "
    "product responsibility and a clear commitment to conserving resources as an integral part of its strategy.",
)
PROFILE_DE = (
    "Mit ihren vier Marken BMW, MINI, Rolls-Royce und BMW Motorrad ist die BMW Group der weltweit führende "
    "Premium-Hersteller von Automobilen und Motorrädern und Anbieter von Premium-Finanz- und Mobilitätsdienstleistungen. "
    "Das BMW Group Produktionsnetzwerk umfasst über {sites} Produktionsstandorte weltweit.",
    "Der wirtschaftliche Erfolg der BMW Group basiert seit jeher auf langfristigem Denken und verantwortungsvollem "
    "Handeln. Ökologische und soziale Nachhaltigkeit entlang der gesamten Wertschöpfungskette sind fester Bestandteil "
    "der Strategie.",
)
NEDC_DISCLAIMERS = (
    "The figures for fuel consumption, CO2 emissions and energy consumption are calculated in accordance with the "
    "measurement procedure prescribed by Regulation (EC) No 715/2007 in the version applicable at the time of type "
    "approval. The figures refer to a vehicle with basic configuration in Germany, and the ranges take into account "
    "differences in the selected wheel and tyre size and the optional equipment, which may change them.",
    "The values of the vehicles labelled with (*) are already based on the new WLTP test cycle and were converted "
    "back to NEDC-equivalent values to ensure comparability between vehicles. For these vehicles, vehicle-related "
    "taxes and other charges based at least in part on CO2 emissions may differ from the figures shown here.",
    "The CO2 efficiency classes are determined according to the Passenger Car Energy Consumption Labelling Ordinance "
    "(Pkw-EnVKV) in the version applicable at the time, using the NEDC values; the reference value is the vehicle's "
    "kerb weight.",
    "Further information on official fuel consumption and the official specific CO2 emissions of new passenger cars "
    "can be found in the 'Guideline on fuel consumption, CO2 emissions and electric power consumption of new "
    "passenger cars', available free of charge at all sales outlets, from Deutsche Automobil Treuhand GmbH (DAT), "
    "Hellmuth-Hirth-Str. 1, 73760 Ostfildern-Scharnhausen, and at https://www.dat.de/co2/.",
)
CO2_HEADINGS = ("CO2 emission information.", "Fuel consumption and CO2 emissions.")


@dataclass(frozen=True)
class ReleaseLayout:
    """The furniture one article's PDF prints, decided from its id (see the module doc)."""

    header: str  # "classic" | "press_information" | "press_kit"
    confidential: bool
    topic_word: str | None  # "Topic" / "Thema" row in the header, or None
    footnote: tuple[int, str] | None  # (body paragraph index, footnote printed before it across a page break)
    tail: tuple[Printed, ...]
    contact_opener: str  # the sentence (or heading) that opens the contact block

    def header_lines(self, article: ReplicaArticle, page: int, page_word: str) -> list[Printed]:
        """The header printed at the top of page `page` (1-based)."""
        d = article.published_at
        subject = article.title if len(article.title) <= 90 else article.title[:87] + "..."
        lines = [Printed("CONFIDENTIAL", "B", 9)] if self.confidential else []
        if self.header == "press_kit":
            lines.append(Printed(f"BMW Group Media Information {d.month:02d}/{d.year} {page_word} {page}", "B", 9))
        elif self.header == "press_information":
            lines += [
                Printed("Press Information", "B", 11),
                Printed(f"Date {d.day} {MONTHS[d.month - 1]} {d.year}", size=8),
            ]
            lines.append(Printed(f"{self.topic_word or 'Subject'} {subject}", size=8))
            lines.append(Printed(f"{page_word} {page}", size=8))
        else:
            lines += [
                Printed("BMW Group", "B", 9),
                Printed("Corporate Communications", size=9),
                Printed("", size=4),
                Printed("Media Information", "B", 11),
                Printed(f"Date {d.day} {MONTHS[d.month - 1]} {d.year}", size=8),
                Printed(f"Subject {subject}", size=8),
                Printed(f"{page_word} {page}", size=8),
            ]
        if self.header == "press_kit" and self.topic_word:
            lines.append(Printed(f"{self.topic_word} {subject}", size=8))
        return lines


def release_layout(article: ReplicaArticle) -> ReleaseLayout:
    """The layout of `article`'s press PDF: the same article id always gives the same layout."""
    rng = random.Random(article.id + ":layout")
    header = (
        "press_kit" if article.category == 2 else rng.choice(["classic", "classic", "press_information", "press_kit"])
    )
    topic_word = rng.choice(["Topic", "Thema", None]) if header != "classic" else None
    footnote = None
    if len(article.paragraphs) >= 3 and rng.random() < 0.4:
        footnote = (rng.randint(1, len(article.paragraphs) - 1), " ".join(_wltp_lines(rng, 1, period=False)))
    consumption = _consumption(article, rng)
    opener, contacts = _contacts(article, rng)
    glue = opener != CONTACT_INTRO and rng.random() < 0.3
    profile = _profile(article, rng, glue_to=contacts if glue else None)
    tail = (
        *consumption,
        GAP,
        Printed("Photos: " + ", ".join(photo_codes(article)), size=8),
        GAP,
        *contacts,
        GAP,
        *_media_desk(rng),
        GAP,
        *profile,
    )
    return ReleaseLayout(header, rng.random() < 0.12, topic_word, footnote, tail, opener)


def furniture_text(article: ReplicaArticle) -> str:
    """Every furniture text the layout prints after the body and in the page-break footnote, one per line."""
    layout = release_layout(article)
    texts = [block.text for block in layout.tail if block.text]
    if layout.footnote:
        texts.append(layout.footnote[1])
    return "\n".join(texts)


def _model_names(article: ReplicaArticle, rng: random.Random, count: int) -> list[str]:
    family = next((t for t in article.topics if t in FAMILIES), rng.choice(list(FAMILIES)))
    return [f"{rng.choice(FAMILIES[family])} {rng.choice(VARIANTS[family])}" for _ in range(count)]


def _decimal(value: float, rng: random.Random) -> str:
    text = f"{value:.1f}"
    return text.replace(".", ",") if rng.random() < 0.6 else text


def _wltp_lines(rng: random.Random, count: int, period: bool, models: list[str] | None = None) -> list[str]:
    """WLTP footnotes as real releases print them: mostly without a final period."""
    lines = []
    for k in range(count):
        model = models[k] if models else f"{rng.choice(FAMILIES[6728])} {rng.choice(VARIANTS[6728])}"
        if rng.random() < 0.5:
            kwh = rng.randint(140, 240) / 10
            text = (
                f"{model}: energy consumption combined: {_decimal(kwh, rng)} kWh/100 km (WLTP); "
                f"CO2 emissions combined: 0 g/km (WLTP); CO2 class: A"
            )
        else:
            litres = rng.randint(45, 120) / 10
            slash = rng.choice(["l/100 km", "l /100 km"])
            text = (
                f"{model}: fuel consumption combined: {_decimal(litres, rng)} {slash} (WLTP); "
                f"CO2 emissions combined: {round(litres * 23.4)} g/km (WLTP); CO2 class: {rng.choice('CDEFG')}"
            )
        lines.append(text + ("." if period else ""))
    return lines


def _consumption(article: ReplicaArticle, rng: random.Random) -> list[Printed]:
    generation = rng.choice(["classic", "wltp", "wltp", "nedc"])
    if generation == "classic":
        return [
            Printed(consumption_summary(article), size=8),
            Printed(CONSUMPTION_NOTE, size=FOOTNOTE_PT, hyphenate=True),
        ]
    blocks = [Printed(rng.choice(CO2_HEADINGS), "B", SMALL_PT)] if rng.random() < 0.5 else []
    if generation == "wltp":
        count = rng.randint(1, 3)
        return blocks + [
            Printed(line, size=FOOTNOTE_PT)
            for line in _wltp_lines(rng, count, period=rng.random() < 0.3, models=_model_names(article, rng, count))
        ]
    disclaimers = rng.sample(NEDC_DISCLAIMERS, rng.randint(2, 4))
    figures = _wltp_lines(rng, 1, period=True, models=_model_names(article, rng, 1))
    return blocks + [Printed(text, size=FOOTNOTE_PT, hyphenate=True) for text in figures + disclaimers]


def _person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    name = f"{rng.choice(['Dr. ', ''] + [''] * 6)}{first} {last}"
    return name, f"{first.lower()}.{last.lower()}@{rng.choice(CONTACT_DOMAINS)}"


def _phone(rng: random.Random) -> str:
    return f"+49 {rng.choice(['89', '89', '89 382', '151'])} {rng.randint(10, 99)}{rng.randint(100, 999)}".replace(
        "89 382 ", "89 382-"
    )


def _entry(rng: random.Random) -> list[Printed]:
    name, email = _person(rng)
    title, phone = rng.choice(CONTACT_TITLES), _phone(rng)
    shape = rng.randrange(4)
    if shape == 0:
        lines = [f"{name}, {title}", f"Tel.: {phone}, {email}"]
    elif shape == 1:
        lines = [name, title, f"Tel.: {phone}", f"{email},"]
    elif shape == 2:
        lines = [name, title, "Tel.:", phone, f"E-mail: {email}"]
    else:
        lines = [
            f"{name}, {title}",
            f"Telephone: {phone}",
            f"Mobile: +49 151 {rng.randint(1000000, 9999999)}",
            f"E-Mail: {email}",
        ]
    return [Printed(line) for line in lines]


def _contacts(article: ReplicaArticle, rng: random.Random) -> tuple[str, list[Printed]]:
    generation = rng.choice(["classic", "opener", "opener", "heading"])
    if generation == "classic":
        c = contact_for(article)
        lines = [
            CONTACT_INTRO,
            "Corporate Communications",
            c.name,
            c.title,
            f"Telephone: {c.phone}",
            f"Fax: {FAX}",
            f"E-mail: {c.email}",
        ]
        return CONTACT_INTRO, [Printed(line) for line in lines]
    opener = rng.choice(CONTACT_OPENERS) if generation == "opener" else rng.choice(CONTACT_HEADINGS)
    blocks = [Printed(opener, "B" if generation == "heading" else "")]
    for _ in range(rng.randint(1, 3)):
        blocks += [GAP, *_entry(rng)]
    return opener, blocks


def _media_desk(rng: random.Random) -> list[Printed]:
    lines = [f"Media website: {MEDIA_WEBSITE}", f"E-mail: {PRESS_EMAIL}", f"Fax: {FAX}"]
    socials = rng.sample(SOCIAL_LINES, rng.randint(2, len(SOCIAL_LINES)))
    return [Printed(line) for line in lines] + [GAP] + [Printed(line) for line in socials]


def _profile(article: ReplicaArticle, rng: random.Random, glue_to: list[Printed] | None) -> list[Printed]:
    year = article.published_at.year - 1
    numbers = {
        "year": year,
        "sites": rng.randint(30, 33),
        "countries": rng.randint(14, 15),
        "cars": f"{rng.randint(225, 255) / 100:.2f}",
        "bikes": f"{rng.randint(190, 215)},{rng.randint(100, 999)}",
        "profit": f"{rng.randint(100, 230) / 10:.1f}",
        "revenue": f"{rng.randint(1040, 1560) / 10:.1f}",
        "staff": f"{rng.randint(118, 160)},{rng.randint(100, 999)}",
    }
    generation = rng.choice(["classic", "four_brands", "four_brands", "old"])
    heading, paragraphs = {
        "classic": (ABOUT_HEADING_EN, [ABOUT_EN]),
        "four_brands": (ABOUT_HEADING_EN, [p.format(**numbers) for p in PROFILE_FOUR_BRANDS]),
        "old": (ABOUT_HEADING_EN, [p.format(**numbers) for p in PROFILE_OLD]),
    }[generation]
    blocks = [Printed(p, size=SMALL_PT, hyphenate=True) for p in paragraphs]
    if glue_to is not None:
        # A two-column layout: the heading sits on the last contact's name line, so pypdf joins them.
        last_name = max(i for i, b in enumerate(glue_to) if b.text and i and not glue_to[i - 1].text)
        glue_to[last_name] = Printed(f"{glue_to[last_name].text} {heading}")
    else:
        blocks.insert(0, Printed(heading, "B", SMALL_PT))
    if has_german_about(article) or rng.random() < 0.15:
        german = [ABOUT_DE] if rng.random() < 0.5 else [p.format(**numbers) for p in PROFILE_DE]
        blocks += [GAP, Printed(ABOUT_HEADING_DE, "B", SMALL_PT)] + [
            Printed(p, size=SMALL_PT, hyphenate=True) for p in german
        ]
    return blocks
