"""The replica's synthetic press-release corpus, generated from a seed.

Every article is written by templates filled from a seeded `random.Random`; nothing
is copied from the real PressClub. Each article states its own facts (model names,
figures, dates, people, places, events) in the body, and `facts` lists 3-5 of them as
question/answer pairs whose answers occur literally in `body_text`.

Deliberate near-duplicates (to exercise dedup downstream): `NEAR_DUPLICATE_COUNT`
articles are regional re-issues of the article published just before them: same
title and body, only the dateline differs ("Woodcliff Lake." / "Farnborough." /
"Sydney.") and one regional sentence is appended. They carry `reissue_of` = the
source id; `near_duplicate_pairs(corpus)` lists them.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")

TOPICS: dict[int, str] = {
    803: "corporate",
    4099: "brands",
    4100: "bmw",
    5127: "mini",
    5236: "technology",
    5249: "people",
    5254: "heritage",
    4098: "motor shows",
    6629: "motorrad",
    6728: "bmw-i",
    7309: "bmw-m",
    10837: "sports",
}
CATEGORIES: dict[int, str] = {1: "Press Release", 2: "Press Kit", 5: "Speech", 11: "Facts & Figures"}

START = datetime(2023, 1, 2, tzinfo=BERLIN)
END = datetime(2026, 6, 30, tzinfo=BERLIN)
NEAR_DUPLICATE_COUNT = 3
# Long press kits (~4-6k words) so length-dependent code paths see real outliers.
LONG_ARTICLE_COUNT = 6


@dataclass(frozen=True)
class Fact:
    question: str
    answer: str


@dataclass(frozen=True)
class ReplicaAttachment:
    attachment_id: int
    filename: str | None  # shown as a trailing URL segment when set
    kind: str  # "pdf" | "other"


@dataclass(frozen=True)
class ReplicaArticle:
    id: str
    language: str
    slug: str
    title: str
    teaser: str
    published_at: datetime
    category: int
    topics: tuple[int, ...]
    paragraphs: tuple[str, ...]
    facts: tuple[Fact, ...]
    attachments: tuple[ReplicaAttachment, ...]
    revision: int = 1
    reissue_of: str | None = None
    pdf_shape: str = "good"  # what its first PDF really is: bmw_assets.replica.pdf_shapes

    @property
    def body_text(self) -> str:
        """The clean ground-truth body: paragraphs joined by a blank line."""
        return "\n\n".join(self.paragraphs)

    @property
    def word_count(self) -> int:
        return len(self.body_text.split())


def revise(article: ReplicaArticle) -> ReplicaArticle:
    """Return the article one revision later: the last paragraph gains a correction
    sentence, so the body (and its hash) changes while every fact stays stated."""
    revision = article.revision + 1
    note = f" This text was updated after publication (revision {revision})."
    paragraphs = article.paragraphs[:-1] + (article.paragraphs[-1] + note,)
    return dataclasses.replace(article, paragraphs=paragraphs, revision=revision)


def near_duplicate_pairs(corpus: list[ReplicaArticle]) -> list[tuple[str, str]]:
    """(source id, re-issue id) for each deliberate near-duplicate in `corpus`."""
    return [(a.reissue_of, a.id) for a in corpus if a.reissue_of]


def slugify(title: str, rng: random.Random) -> str:
    """Lowercase hyphenated slug; keeps ':' and dashes like the real site, and
    sometimes cuts mid-word at 60 characters as the real site does."""
    slug = re.sub(r"[^\w:\u2019\u2013]+", "-", title.lower()).strip("-")
    if len(slug) > 60 and rng.random() < 0.5:
        slug = slug[:60]
    return slug


# ---------------------------------------------------------------- word banks
FIRST = [
    "Anna",
    "Markus",
    "Julia",
    "Stefan",
    "Katharina",
    "Thomas",
    "Sophie",
    "Andreas",
    "Laura",
    "Michael",
    "Elena",
    "Florian",
    "Claudia",
    "Jonas",
    "Miriam",
    "Oliver",
    "Sabine",
    "Felix",
    "Hannah",
    "Peter",
    "Carla",
    "Benedikt",
    "Isabel",
    "Tobias",
    "Nadine",
    "Maximilian",
    "Ingrid",
    "Lukas",
    "Theresa",
    "Daniel",
    "Rebecca",
    "Sebastian",
    "Victoria",
    "Martin",
    "Helena",
    "Robert",
    "Yuki",
    "Lucas",
    "Chloe",
    "Rafael",
    "Priya",
    "James",
    "Olivia",
    "Marco",
    "Sara",
    "Henrik",
]
LAST = [
    "Brandt",
    "Hoffmann",
    "Keller",
    "Lindner",
    "Maier",
    "Neumann",
    "Richter",
    "Schulte",
    "Vogel",
    "Wagner",
    "Zimmermann",
    "Albrecht",
    "Bauer",
    "Engel",
    "Fischer",
    "Graf",
    "Hartmann",
    "Jung",
    "Krause",
    "Lorenz",
    "Moser",
    "Nowak",
    "Ostermann",
    "Pohl",
    "Reiter",
    "Seidel",
    "Thiel",
    "Ulrich",
    "Winter",
    "Berger",
    "Dietrich",
    "Eckert",
    "Frank",
    "Gruber",
    "Huber",
    "Kaiser",
    "Lang",
    "Mertens",
    "Oswald",
    "Pfeiffer",
    "Roth",
    "Sommer",
    "Weiss",
    "Castellano",
    "Nakamura",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Fernandes",
    "Kowalski",
    "Whitfield",
    "Tanaka",
    "Rossi",
]
PLANTS = [
    "Plant Dingolfing",
    "Plant Leipzig",
    "Plant Regensburg",
    "Plant Munich",
    "Plant Debrecen",
    "Plant Spartanburg",
    "Plant Shenyang",
    "Plant Oxford",
    "Plant San Luis Potosi",
    "Plant Steyr",
    "Plant Landshut",
    "Plant Wackersdorf",
    "Plant Berlin",
    "Plant Rosslyn",
    "Plant Swindon",
]
PLANT_CITY = {p: p.removeprefix("Plant ") for p in PLANTS}
MARKETS = [
    "Germany",
    "the United States",
    "China",
    "the United Kingdom",
    "Japan",
    "South Korea",
    "France",
    "Italy",
    "Spain",
    "Australia",
    "Canada",
    "Brazil",
    "India",
    "Mexico",
    "Sweden",
    "Norway",
    "the Netherlands",
    "Switzerland",
    "Austria",
    "South Africa",
]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
ADJ = [
    "efficient",
    "precise",
    "sporty",
    "elegant",
    "intelligent",
    "connected",
    "sustainable",
    "refined",
    "dynamic",
    "comfortable",
    "robust",
    "modular",
    "intuitive",
    "generous",
    "agile",
    "quiet",
    "lightweight",
    "progressive",
    "distinctive",
    "versatile",
    "expressive",
    "digital",
    "clean",
    "powerful",
    "balanced",
    "scalable",
    "flexible",
    "responsive",
    "premium",
    "compact",
]
NOUN = [
    "driving dynamics",
    "interior quality",
    "charging performance",
    "software architecture",
    "assistance systems",
    "material selection",
    "suspension tuning",
    "display technology",
    "energy recovery",
    "acoustic comfort",
    "supply chain",
    "recycling concept",
    "operating logic",
    "lighting design",
    "aerodynamics",
    "seat ergonomics",
    "thermal management",
    "range planning",
    "over-the-air updates",
    "customer experience",
    "digital services",
    "production quality",
    "battery chemistry",
    "cell supply",
    "vehicle dynamics",
    "brand presence",
    "dealer network",
    "quality assurance",
    "powertrain efficiency",
    "chassis control",
    "surface finish",
    "infotainment",
    "climate control",
    "parking functions",
    "navigation",
    "voice control",
    "circular economy",
    "training programme",
    "logistics",
    "renewable electricity",
]
OPENERS = [
    "",
    "",
    "",
    "At the same time, ",
    "In addition, ",
    "According to the company, ",
    "As a result, ",
    "Beyond that, ",
    "For the first time, ",
    "From {month} onwards, ",
    "In {city}, ",
    "Over the coming months, ",
    "With this step, ",
    "Above all, ",
    "Meanwhile, ",
    "Looking ahead, ",
    "In {market}, ",
    "Compared with its predecessor, ",
    "Right from the start, ",
    "In everyday use, ",
    "Step by step, ",
    "On top of that, ",
]
SUBJECTS = [
    "the {subject}",
    "the development team",
    "the BMW Group",
    "the customer base in {market}",
    "the new {noun_s}",
    "the production network",
    "the team at {plant}",
    "the dealer network in {market}",
    "the engineering team in {city}",
    "the design team",
    "the company",
    "every new generation",
    "the sales organisation",
    "the project team",
    "the {subject}",
    "the specialist team from {city}",
    "the latest update",
    "the partner network",
]
PREDICATES = [
    "combines {adj} {noun} with {adj2} {noun2}",
    "sets new standards for {noun}",
    "benefits from {adj} {noun}",
    "relies on {adj} {noun}",
    "underlines the importance of {noun}",
    "brings {noun} to a new level",
    "focuses consistently on {noun}",
    "achieves a clear step forward in {noun}",
    "was tested extensively for {noun}",
    "offers {adj} {noun} as standard",
    "stands for {adj} {noun} and {adj2} {noun2}",
    "has been refined in terms of {noun}",
    "places particular emphasis on {noun}",
    "expands the scope of {noun}",
    "reduces complexity in {noun}",
    "makes {noun} noticeably more {adj}",
    "delivers {adj} {noun} even under demanding conditions",
    "was developed in close cooperation with specialists for {noun}",
    "gains {adj} {noun} thanks to a revised {noun2}",
    "continues the tradition of {adj} {noun}",
]
TAILS = [
    "",
    "",
    "",
    " across all model series",
    " from the very first kilometre",
    " in everyday use",
    " without compromise",
    " in the years ahead",
    " for customers worldwide",
    " on long journeys as well as in the city",
    " at every stage of the process",
    " compared with the previous model",
    " in line with the company's strategy",
    " as part of the current model offensive",
    " from {year} onwards",
]
QUOTE_PARTS = [
    "We are proud of what the team has achieved",
    "This is an important milestone for us",
    "Our customers expect the very best, and that is what we deliver",
    "The response so far has exceeded our expectations",
    "We are taking the next logical step",
    "This shows what our people are capable of",
    "We are setting the course for the coming decade",
    "Sustainability and performance are not a contradiction",
    "The decision reflects our long-term commitment",
    "We listened closely to our customers",
]
ROLES = [
    "Head of Product Management",
    "Head of Development",
    "Head of Sales Germany",
    "Plant Director",
    "Head of Design",
    "Senior Vice President Purchasing",
    "Head of Brand Communications",
    "Head of Quality Management",
    "Head of Motorsport",
    "Head of Sustainability",
    "Chief Engineer",
    "Head of Customer Experience",
]


class Writer:
    """Composes varied filler sentences and paragraphs for one article."""

    def __init__(self, rng: random.Random, subject: str, city: str, year: int):
        self.rng, self.subject, self.city, self.year = rng, subject, city, year

    def _fill(self, template: str) -> str:
        r = self.rng
        adj, adj2 = r.sample(ADJ, 2)
        noun, noun2, noun_s = r.sample(NOUN, 3)
        return template.format(
            subject=self.subject,
            city=r.choice([self.city, *PLANT_CITY.values()]),
            market=r.choice(MARKETS),
            month=r.choice(MONTHS),
            plant=r.choice(PLANTS),
            adj=adj,
            adj2=adj2,
            noun=noun,
            noun2=noun2,
            noun_s=noun_s,
            year=self.year + r.randint(0, 2),
        )

    def sentence(self) -> str:
        r = self.rng
        if r.random() < 0.08:
            person = f"{r.choice(FIRST)} {r.choice(LAST)}"
            return f'"{r.choice(QUOTE_PARTS)}," said {person}, {r.choice(ROLES)}.'
        text = self._fill(r.choice(OPENERS) + r.choice(SUBJECTS) + " " + r.choice(PREDICATES) + r.choice(TAILS))
        return text[0].upper() + text[1:] + "."

    def paragraph(self, lead: list[str] | None = None) -> str:
        sentences = [self.sentence() for _ in range(self.rng.randint(3, 6))]
        for s in lead or []:
            sentences.insert(self.rng.randint(0, len(sentences)), s)
        return " ".join(sentences)


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _date(d: datetime) -> str:
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def _num(n: int) -> str:
    return f"{n:,}"


# A kind returns (title, teaser bullets, subject for filler, [(question, answer, sentence)]).
KindResult = tuple[str, list[str], str, list[tuple[str, str, str]]]

FAMILIES = {
    4100: [
        "BMW X1",
        "BMW X2",
        "BMW X3",
        "BMW X5",
        "BMW X6",
        "BMW X7",
        "BMW 1 Series",
        "BMW 3 Series Sedan",
        "BMW 3 Series Touring",
        "BMW 5 Series Sedan",
        "BMW 5 Series Touring",
        "BMW 7 Series",
        "BMW 2 Series Gran Coupe",
        "BMW 4 Series Convertible",
        "BMW Z4 Roadster",
        "BMW 8 Series Coupe",
    ],
    5127: ["MINI Cooper", "MINI Countryman", "MINI Aceman", "MINI Cooper Convertible", "MINI John Cooper Works"],
    6728: ["BMW i4", "BMW i5 Touring", "BMW i5 Sedan", "BMW i7", "BMW iX", "BMW iX1", "BMW iX2", "BMW iX3"],
    7309: ["BMW M2", "BMW M3 Touring", "BMW M4 Coupe", "BMW M5", "BMW M5 Touring", "BMW XM", "BMW X5 M"],
    6629: [
        "BMW R 1300 GS",
        "BMW S 1000 RR",
        "BMW M 1000 XR",
        "BMW F 900 GS",
        "BMW R 18 Transcontinental",
        "BMW K 1600 GTL",
        "BMW CE 04",
        "BMW R 1300 RT",
        "BMW F 800 GS",
        "BMW S 1000 XR",
    ],
}
VARIANTS = {
    4100: ["sDrive18i", "xDrive20d", "xDrive30e", "M50", "xDrive40", "sDrive20i", "M60i", "xDrive25e", "320d", "520i"],
    5127: ["E", "SE", "S", "C", "Electric", "ALL4"],
    6728: ["eDrive35", "eDrive40", "xDrive50", "M60", "M70 xDrive", "xDrive45", "eDrive20", "50 xDrive"],
    7309: ["Competition", "CS", "Competition xDrive", "Label", "Track Package", "Pure"],
    6629: ["Adventure", "Trophy", "Option 719", "Rallye", "Pro", "Sport", "Comfort"],
}
EDITIONS = [
    "Edition Frozen Black",
    "Edition Sunset",
    "Edition Alpine",
    "Edition Carbon",
    "Edition Arctic",
    "Edition Racing Green",
    "Edition Heritage",
    "Edition Midnight",
    "Edition Solstice",
    "Edition Coastline",
    "Edition Aurora",
    "Edition Granite",
    "Edition Lagoon",
    "Edition Tundra",
]
CONCEPT_WORDS = [
    "Horizon",
    "Momentum",
    "Lumen",
    "Atlas",
    "Vector",
    "Aether",
    "Solace",
    "Meridian",
    "Pulse",
    "Cascade",
    "Equinox",
    "Vantage",
    "Zenith",
    "Element",
    "Drift",
    "Kinetic",
    "Radiance",
    "Summit",
    "Vertex",
    "Nimbus",
    "Spectrum",
    "Origin",
    "Tempo",
    "Harbor",
]
EVENTS = [
    "IAA Mobility",
    "Auto China",
    "Goodwood Festival of Speed",
    "Concorso d'Eleganza Villa d'Este",
    "CES",
    "Monterey Car Week",
    "Paris Motor Show",
    "EICMA",
    "Japan Mobility Show",
    "Los Angeles Auto Show",
    "Intermot",
    "Auto Shanghai",
    "Geneva International Motor Show",
]
EVENT_CITY = {
    "IAA Mobility": "Munich",
    "Auto China": "Beijing",
    "Goodwood Festival of Speed": "Chichester",
    "Concorso d'Eleganza Villa d'Este": "Cernobbio",
    "CES": "Las Vegas",
    "Monterey Car Week": "Monterey",
    "Paris Motor Show": "Paris",
    "EICMA": "Milan",
    "Japan Mobility Show": "Tokyo",
    "Los Angeles Auto Show": "Los Angeles",
    "Intermot": "Cologne",
    "Auto Shanghai": "Shanghai",
    "Geneva International Motor Show": "Geneva",
}
RACES = [
    "24 Hours of Daytona",
    "24 Hours of Le Mans",
    "24 Hours of the Nuerburgring",
    "Spa 24 Hours",
    "Petit Le Mans",
    "12 Hours of Sebring",
    "Macau Grand Prix",
    "DTM round at the Norisring",
    "DTM round at the Sachsenring",
    "WEC round in Fuji",
    "IMSA round at Watkins Glen",
    "WEC round in Bahrain",
    "Bathurst 12 Hour",
    "DTM finale in Hockenheim",
]
TEAMS = [
    "BMW M Team WRT",
    "BMW M Team RLL",
    "Schubert Motorsport",
    "Team Schnitzer",
    "ROWE Racing",
    "Walkenhorst Motorsport",
    "BMW M Team Project 1",
    "Paul Miller Racing",
    "Century Motorsport",
]
RACE_CARS = ["BMW M4 GT3 EVO", "BMW M Hybrid V8", "BMW M4 GT4 EVO", "BMW M2 Racing"]
TECH = [
    "sixth-generation BMW eDrive",
    "Neue Klasse platform",
    "BMW Operating System X",
    "BMW iX5 Hydrogen pilot fleet",
    "cylindrical Gen6 battery cell",
    "Panoramic iDrive",
    "Heart of Joy control unit",
    "Motorway Assistant",
    "800-volt architecture",
    "Active Lane Change Assist",
    "BMW Digital Key Plus",
    "solid-state battery prototype",
    "bidirectional charging system",
    "BMW Intelligent Personal Assistant",
    "Superbrain computer",
]
CLASSICS = {
    "BMW 2002 turbo": "1973",
    "BMW M1": "1978",
    "BMW 507": "1955",
    "BMW 3.0 CSL": "1971",
    "BMW Isetta": "1955",
    "BMW R 32": "1923",
    "BMW Z1": "1988",
    "BMW 328": "1936",
    "Mini Cooper S": "1964",
    "BMW E30 M3": "1986",
    "BMW R 80 G/S": "1980",
    "BMW 503": "1956",
    "BMW 1500": "1961",
    "BMW 8 Series E31": "1989",
    "BMW Z8": "1999",
    "BMW Turbo concept car": "1972",
    "BMW 700": "1959",
    "BMW K 1": "1988",
    "BMW R 90 S": "1973",
    "BMW 635 CSi": "1978",
}
PARTNERS = [
    "Salzburg Festival",
    "Berlin Philharmonic",
    "Frieze art fair",
    "Art Basel",
    "German Ski Association",
    "European Golf Tour",
    "Munich Marathon",
    "Louvre Museum",
    "Bayern Munich football club",
    "Opera for All",
    "Deutsches Museum",
    "Tate Modern",
    "Lake Constance Regatta",
    "Design Week Milan",
]
UNIVERSITIES = [
    "Technical University of Munich",
    "RWTH Aachen University",
    "University of Stuttgart",
    "Karlsruhe Institute of Technology",
    "ETH Zurich",
    "University of Cambridge",
    "Tongji University",
    "Politecnico di Milano",
    "University of Michigan",
]


class Inventor:
    """Draws names that must not repeat across the corpus (so facts never conflict)."""

    def __init__(self, rng: random.Random):
        self.rng, self.used = rng, set()

    def unique(self, make: Callable[[], str]) -> str:
        for _ in range(200):
            value = make()
            if value not in self.used:
                self.used.add(value)
                return value
        # The banks are used up (corpora of thousands, for load tests): number a repeat instead.
        value = make()
        number = 2
        while f"{value} {number}" in self.used:
            number += 1
        self.used.add(f"{value} {number}")
        return f"{value} {number}"


def _vehicle_launch(rng, inv, when, topic) -> KindResult:
    model = inv.unique(
        lambda: (
            f"{rng.choice(FAMILIES[topic])} {rng.choice(VARIANTS[topic])}"
            + (f" {rng.choice(EDITIONS)}" if rng.random() < 0.6 else "")
        )
    )
    is_bike = topic == 6629
    kw = rng.randint(35, 120) if is_bike else rng.randint(100, 560)
    price = (
        rng.randint(12, 29) * 1000 + rng.choice([50, 250, 500, 900])
        if is_bike
        else rng.randint(32, 180) * 1000 + rng.choice([0, 300, 500, 900])
    )
    launch = when + timedelta(days=rng.randint(30, 200))
    plant = rng.choice(PLANTS if not is_bike else ["Plant Berlin", "Plant Manaus", "Plant Rayong"])
    presenter, role = _person(rng), rng.choice(ROLES)
    facts = [
        (
            f"What is the maximum output of the {model}?",
            f"{kw} kW",
            f"The {model} delivers a maximum output of {kw} kW ({round(kw * 1.36)} hp).",
        ),
        (
            f"What is the base price of the {model} in Germany?",
            f"{_num(price)} euros",
            f"In Germany the {model} is offered from {_num(price)} euros including VAT.",
        ),
        (
            f"When is the market launch of the {model}?",
            _date(launch),
            f"The market launch of the {model} is scheduled for {_date(launch)}.",
        ),
        (
            f"Where is the {model} produced?",
            plant,
            f"The {model} is built at {plant}, where production was prepared over several months.",
        ),
        (f"Who presented the {model}?", presenter, f"{presenter}, {role}, presented the {model} to the media."),
    ]
    if topic in (6728, 5127) and not is_bike:
        rng_km = rng.randint(280, 720)
        facts.append(
            (
                f"What WLTP range does the {model} achieve?",
                f"{rng_km} km",
                f"The {model} achieves a range of up to {rng_km} km in the WLTP cycle.",
            )
        )
    title = rng.choice(
        [
            f"The new {model}.",
            f"Market launch of the {model}: prices and equipment",
            f"World premiere: the {model}",
            f"More character, more efficiency: the {model}",
        ]
    )
    teaser = [f"Output of {kw} kW", f"Prices from {_num(price)} euros", f"Production at {plant}"]
    return title, teaser, model, facts


def _corporate(rng, inv, when, topic) -> KindResult:
    year = when.year
    quarter = (when.month - 1) // 3 + 1
    key = f"figures {year} Q{quarter}"
    if rng.random() < 0.5 and key not in inv.used:
        inv.used.add(key)
        deliveries = rng.randint(540_000, 640_000)
        bevs = rng.randint(90_000, 160_000)
        margin = f"{rng.randint(55, 110) / 10:.1f}"
        facts = [
            (
                f"How many vehicles did the BMW Group deliver in quarter {quarter} of {year} according to its interim figures?",
                f"{_num(deliveries)} vehicles",
                f"In quarter {quarter} of {year} the BMW Group delivered {_num(deliveries)} vehicles to customers worldwide.",
            ),
            (
                f"How many fully electric vehicles did the BMW Group deliver in quarter {quarter} of {year}?",
                f"{_num(bevs)} fully electric vehicles",
                f"Of these, {_num(bevs)} fully electric vehicles were handed over in the same period.",
            ),
            (
                f"What EBIT margin did the Automotive segment reach in quarter {quarter} of {year}?",
                f"{margin} percent",
                f"The EBIT margin in the Automotive segment reached {margin} percent.",
            ),
        ]
        cfo = _person(rng)
        facts.append(
            (
                f"Who commented on the BMW Group figures for quarter {quarter} of {year}?",
                cfo,
                f"{cfo}, member of the Board of Management responsible for Finance, commented on the results.",
            )
        )
        title = f"BMW Group figures for quarter {quarter} of {year}"
        return title, ["Deliveries " + _num(deliveries), f"EBIT margin {margin} percent"], "BMW Group", facts
    plant = inv.unique(
        lambda: (
            f"{rng.choice(PLANTS)} {rng.choice(['battery assembly', 'paint shop', 'training centre', 'logistics hub', 'press shop', 'body shop', 'high-voltage battery centre'])}"
        )
    )
    site = plant
    invest = rng.randint(80, 1900)
    jobs = rng.randint(150, 2400)
    opening = when + timedelta(days=rng.randint(200, 700))
    head = _person(rng)
    facts = [
        (
            f"How much is the BMW Group investing in the new {site}?",
            f"{invest} million euros",
            f"The BMW Group is investing {invest} million euros in the new {site}.",
        ),
        (
            f"How many jobs will the new {site} create?",
            f"{_num(jobs)} jobs",
            f"The new {site} will create around {_num(jobs)} jobs.",
        ),
        (
            f"When is the new {site} due to open?",
            _date(opening),
            f"Operations at the new {site} are due to start on {_date(opening)}.",
        ),
        (
            f"Who leads the project for the new {site}?",
            head,
            f"The project is led by {head}, who has worked for the BMW Group for many years.",
        ),
    ]
    return (
        f"BMW Group invests {invest} million euros: new {site}",
        ["Investment of " + str(invest) + " million euros", f"{_num(jobs)} new jobs"],
        site,
        facts,
    )


def _speech(rng, inv, when, topic) -> KindResult:
    speaker = inv.unique(lambda: _person(rng))
    occasion = rng.choice(
        [
            "Annual General Meeting",
            "Annual Conference",
            "Capital Markets Day",
            "Supplier Innovation Day",
            "Sustainability Summit",
            "Plant Anniversary",
        ]
    )
    audience = rng.randint(600, 4800)
    goal = rng.randint(20, 60)
    facts = [
        (
            f"Who gave the speech at the BMW Group {occasion} on {_date(when)}?",
            speaker,
            f"{speaker}, member of the Board of Management, spoke at the {occasion} on {_date(when)}.",
        ),
        (
            f"How many guests attended the BMW Group {occasion} on {_date(when)}?",
            f"{_num(audience)} guests",
            f"Around {_num(audience)} guests followed the {occasion} on site and online.",
        ),
        (
            f"By what share does the BMW Group want to cut CO2 emissions per vehicle according to the speech by {speaker}?",
            f"{goal} percent",
            f"By the end of the decade the company aims to cut CO2 emissions per vehicle by {goal} percent.",
        ),
    ]
    return f"Speech by {speaker} at the {occasion} {when.year}", ["Check against delivery"], "BMW Group", facts


def _technology(rng, inv, when, topic) -> KindResult:
    tech = rng.choice(TECH)
    centre = inv.unique(
        lambda: (
            f"{rng.choice(['FIZ', 'Battery Cell Competence Centre', 'Driving Simulation Centre', 'Hydrogen Competence Centre', 'Software Campus', 'Cell Manufacturing Competence Centre'])} in {rng.choice(['Munich', 'Parsdorf', 'Garching', 'Lisbon', 'Shenyang', 'Bengaluru', 'Mountain View', 'Taufkirchen'])}"
        )
    )
    pct = rng.randint(11, 45)
    kw = rng.randint(150, 400)
    engineers = rng.randint(80, 1500)
    lead = _person(rng)
    facts = [
        (
            f"By how much does the {tech} improve efficiency according to tests at the {centre}?",
            f"{pct} percent",
            f"Tests at the {centre} showed that the {tech} improves efficiency by {pct} percent.",
        ),
        (
            f"What charging power does the {tech} support in the tests at the {centre}?",
            f"{kw} kW",
            f"In the tests at the {centre}, the {tech} supported a charging power of up to {kw} kW.",
        ),
        (
            f"How many engineers work at the {centre}?",
            f"{_num(engineers)} engineers",
            f"Around {_num(engineers)} engineers work at the {centre}.",
        ),
        (f"Who heads the {centre}?", lead, f"The {centre} is headed by {lead}."),
    ]
    return (
        f"{tech[0].upper() + tech[1:]}: progress at the {centre}",
        [f"{pct} percent more efficient", f"Up to {kw} kW"],
        tech,
        facts,
    )


def _people(rng, inv, when, topic) -> KindResult:
    person = inv.unique(lambda: _person(rng))
    role = rng.choice(ROLES)
    unit = rng.choice(
        [
            "BMW",
            "MINI",
            "BMW Motorrad",
            "BMW M GmbH",
            "BMW Group Research",
            "BMW Group Financial Services",
            "BMW Group Plant Network",
        ]
    )
    start = when + timedelta(days=rng.randint(20, 120))
    joined = str(rng.randint(1990, 2016))
    uni = rng.choice(UNIVERSITIES)
    pred = inv.unique(lambda: _person(rng))
    facts = [
        (
            f"Who becomes {role} at {unit} on {_date(start)}?",
            person,
            f"{person} will take over as {role} at {unit} on {_date(start)}.",
        ),
        (f"In which year did {person} join the BMW Group?", joined, f"{person} joined the BMW Group in {joined}."),
        (f"Where did {person} study?", uni, f"{person} studied mechanical engineering at the {uni}."),
        (
            f"Whom does {person} succeed as {role} at {unit}?",
            pred,
            f"{person} succeeds {pred}, who is moving to a new role within the company.",
        ),
    ]
    return f"{person} appointed {role} at {unit}", [f"Effective {_date(start)}"], unit, facts


def _heritage(rng, inv, when, topic) -> KindResult:
    classic = rng.choice(list(CLASSICS))
    first = CLASSICS[classic]
    venue = inv.unique(
        lambda: (
            f"{rng.choice(['BMW Museum', 'BMW Group Classic', 'Techno Classica', 'Retro Classics', 'Classic Days'])} {rng.choice(['Munich', 'Essen', 'Stuttgart', 'Schloss Dyck', 'Oxford'])} {when.year} {rng.choice(['spring', 'summer', 'autumn', 'winter'])}"
        )
    )
    cars = rng.randint(6, 60)
    curator = _person(rng)
    facts = [
        (f"In which year was the {classic} first presented?", first, f"The {classic} was first presented in {first}."),
        (
            f"How many vehicles are shown at the {venue} exhibition?",
            f"{cars} vehicles",
            f"The {venue} exhibition shows {cars} vehicles from the company's history.",
        ),
        (f"Who curated the {venue} exhibition?", curator, f"The exhibition at the {venue} was curated by {curator}."),
    ]
    return f"Celebrating the {classic}: {venue}", [f"{cars} historic vehicles"], classic, facts


def _motor_show(rng, inv, when, topic) -> KindResult:
    event = rng.choice(EVENTS)
    brand = rng.choice(["BMW", "MINI", "BMW Motorrad"])
    concept = inv.unique(lambda: f"{brand} {rng.choice(['Vision', 'Concept'])} {rng.choice(CONCEPT_WORDS)}")
    stand = rng.randint(800, 5200)
    premieres = rng.randint(2, 9)
    host = _person(rng)
    facts = [
        (
            f"At which event was the {concept} unveiled?",
            f"{event} {when.year}",
            f"The {concept} celebrated its world premiere at the {event} {when.year} in {EVENT_CITY[event]}.",
        ),
        (
            f"How large was the stand on which the {concept} was shown?",
            f"{_num(stand)} square metres",
            f"The stand covered {_num(stand)} square metres.",
        ),
        (
            f"How many world premieres did the BMW Group show alongside the {concept}?",
            f"{premieres} world premieres",
            f"Alongside the {concept}, the BMW Group presented {premieres} world premieres.",
        ),
        (f"Who hosted the unveiling of the {concept}?", host, f"The unveiling of the {concept} was hosted by {host}."),
    ]
    return (
        f"The BMW Group at the {event} {when.year}: {concept}",
        [f"World premiere of the {concept}", f"{premieres} premieres"],
        concept,
        facts,
    )


def _sports(rng, inv, when, topic) -> KindResult:
    race, team = inv.unique(lambda: f"{rng.choice(RACES)}|{rng.choice(TEAMS)}|{when.year}").split("|")[:2]
    car = rng.choice(RACE_CARS)
    drivers = [inv.unique(lambda: _person(rng)) for _ in range(2)]
    laps = rng.randint(60, 780)
    pos = rng.choice(["first", "second", "third"])
    gap = f"{rng.randint(1, 59)}.{rng.randint(100, 999)} seconds"
    facts = [
        (
            f"Which drivers shared the {car} of {team} at the {race} {when.year}?",
            drivers[0],
            f"{drivers[0]} and {drivers[1]} shared the {car} of {team} at the {race} {when.year}.",
        ),
        (
            f"Where did {team} finish at the {race} {when.year}?",
            pos,
            f"{team} finished in {pos} place at the {race} {when.year}.",
        ),
        (
            f"How many laps did the {team} car complete at the {race} {when.year}?",
            f"{laps} laps",
            f"The car completed {laps} laps.",
        ),
        (
            f"What was the gap of the {team} car at the finish of the {race} {when.year}?",
            gap,
            f"At the finish the gap was {gap}.",
        ),
    ]
    return f"{team} at the {race} {when.year}: {pos} place", [f"{pos.capitalize()} place for the {car}"], car, facts


def _brands(rng, inv, when, topic) -> KindResult:
    partner = rng.choice(PARTNERS)
    years = rng.randint(2, 10)
    until = when.year + years
    since = str(rng.randint(1978, 2020))
    contact = _person(rng)
    project = inv.unique(
        lambda: (
            f"{rng.choice(['BMW Art Journey', 'MINI Design Lab', 'BMW Open Work', 'BMW Culture Lab', 'MINI Urban Space'])} {rng.choice(CONCEPT_WORDS)}"
        )
    )
    facts = [
        (
            f"Until which year did the BMW Group extend its partnership with the {partner} announced with the {project}?",
            str(until),
            f"The BMW Group has extended its partnership with the {partner} until {until}.",
        ),
        (
            f"Since when has the BMW Group supported the {partner} according to the {project} announcement?",
            since,
            f"The company has supported the {partner} since {since}.",
        ),
        (f"Who is responsible for the {project}?", contact, f"The {project} is led by {contact}."),
    ]
    return f"{project}: BMW Group and the {partner}", [f"Partnership extended until {until}"], project, facts


KINDS: dict[int, Callable[..., KindResult]] = {
    803: _corporate,
    4099: _brands,
    4100: _vehicle_launch,
    5127: _vehicle_launch,
    6728: _vehicle_launch,
    7309: _vehicle_launch,
    6629: _vehicle_launch,
    5236: _technology,
    5249: _people,
    5254: _heritage,
    4098: _motor_show,
    10837: _sports,
}
TOPIC_WEIGHTS = {
    803: 14,
    4099: 4,
    4100: 17,
    5127: 9,
    5236: 10,
    5249: 6,
    5254: 6,
    4098: 7,
    6629: 9,
    6728: 8,
    7309: 6,
    10837: 8,
}
RELATED = {
    803: [5236, 5249, 4099],
    4099: [803, 4100, 5127],
    4100: [4099, 5236, 4098],
    5127: [4099, 4098],
    5236: [803, 6728, 4100],
    5249: [803],
    5254: [4099, 4100, 6629],
    4098: [4100, 5127, 6728],
    6629: [4099, 4098],
    6728: [4100, 5236],
    7309: [4100, 10837],
    10837: [7309, 4099],
}
DATELINES = {
    803: "Munich",
    4099: "Munich",
    5249: "Munich",
    5254: "Munich",
    5236: "Munich",
    10837: "Munich",
    6629: "Munich",
    4098: "Munich",
}
REISSUE_DATELINES = [
    ("Woodcliff Lake", "US market details follow from BMW of North America."),
    ("Farnborough", "UK pricing and specification are announced separately by BMW UK."),
    ("Sydney", "Australian market details are published by BMW Group Australia."),
]


def _publish_times(rng: random.Random, size: int) -> list[datetime]:
    span = (END - START).total_seconds()
    days = sorted(rng.random() * span for _ in range(size))
    times = []
    for offset in days:
        day = (START + timedelta(seconds=offset)).date()
        times.append(
            datetime(
                day.year, day.month, day.day, rng.randint(7, 18), rng.randint(0, 59), rng.randint(0, 59), tzinfo=BERLIN
            )
        )
    times.sort()
    return times


def _word_target(rng: random.Random, long: bool) -> int:
    if long:
        return rng.randint(4000, 6000)
    return int(min(3200, max(250, rng.lognormvariate(6.6, 0.55))))


def _attachments(rng: random.Random, next_id: int, title: str, long: bool) -> tuple[ReplicaAttachment, ...]:
    roll = rng.random()
    if roll < 0.10 and not long:
        return ()
    if roll < 0.15 and not long:
        ext = rng.choice(["jpg", "zip"])
        return (
            ReplicaAttachment(next_id, f"Photo_package.{ext}" if ext == "zip" else f"Image_{next_id}.jpg", "other"),
        )
    name = None
    if rng.random() < 0.5:
        name = re.sub(r"[^A-Za-z0-9]+", "_", title).strip("_")[:60] + ".pdf"
    return (ReplicaAttachment(next_id, name, "pdf"),)


REPLICA_SIZE = 400  # articles in the default replica corpus


def build_corpus(seed: int = 2026, size: int = REPLICA_SIZE) -> list[ReplicaArticle]:
    """Build `size` articles, oldest first, from `seed` (same inputs, same corpus).

    Dates run from 2023-01 to 2026-06; ids `T0xxxxxxEN` grow with the date.
    """
    if size < NEAR_DUPLICATE_COUNT * 4:
        raise ValueError(f"size={size} is too small; use at least {NEAR_DUPLICATE_COUNT * 4}")
    rng = random.Random(seed)
    inv = Inventor(rng)
    times = _publish_times(rng, size)
    long_at = set(rng.sample(range(size), LONG_ARTICLE_COUNT))
    # Re-issues sit in the older part, so they are published by default.
    reissue_at = {size * (k + 1) // (NEAR_DUPLICATE_COUNT + 2): k for k in range(NEAR_DUPLICATE_COUNT)}
    number, attachment_id = 410000, 600000
    topics_list, weights = list(TOPIC_WEIGHTS), list(TOPIC_WEIGHTS.values())
    corpus: list[ReplicaArticle] = []
    for index, when in enumerate(times):
        number += rng.randint(4, 40)
        attachment_id += rng.randint(3, 90)
        article_id = f"T{number:07d}EN"
        if index in reissue_at and corpus:
            corpus.append(
                _reissue(corpus[-1], article_id, when, REISSUE_DATELINES[reissue_at[index]], attachment_id, rng)
            )
            continue
        primary = rng.choices(topics_list, weights)[0]
        topics = (primary,) + ((rng.choice(RELATED[primary]),) if rng.random() < 0.26 else ())
        kind = KINDS[primary]
        if primary == 803 and rng.random() < 0.25:
            kind = _speech
        title, bullets, subject, facts = kind(rng, inv, when, primary)
        long = index in long_at
        category = 2 if long else 5 if kind is _speech else 11 if title.startswith("BMW Group figures") else 1
        city = DATELINES.get(primary) or rng.choice(
            ["Munich", "Munich", "Munich", "Oxford", "Woodcliff Lake", "Leipzig"]
        )
        writer = Writer(rng, subject, city, when.year)
        chosen = rng.sample(facts, k=min(len(facts), rng.randint(3, 5)))
        paragraphs = [f"{city}. {chosen[0][2]} {writer.paragraph()}"]
        target = _word_target(rng, long)
        pending = [s for _, _, s in chosen[1:]]
        words = len(paragraphs[0].split())
        while words < target or pending:
            lead = [pending.pop(0)] if pending and rng.random() < 0.6 else []
            paragraph = writer.paragraph(lead)
            paragraphs.append(paragraph)
            words += len(paragraph.split())
        corpus.append(
            ReplicaArticle(
                id=article_id,
                language="en",
                slug=slugify(title, rng),
                title=title,
                teaser="+++ " + " +++ ".join(bullets) + " +++",
                published_at=when,
                category=category,
                topics=topics,
                paragraphs=tuple(paragraphs),
                facts=tuple(Fact(q, a) for q, a, _ in chosen),
                attachments=_attachments(rng, attachment_id, title, long),
            )
        )
    return corpus


def _reissue(
    source: ReplicaArticle,
    article_id: str,
    when: datetime,
    dateline: tuple[str, str],
    attachment_id: int,
    rng: random.Random,
) -> ReplicaArticle:
    city, note = dateline
    first = source.paragraphs[0].split(". ", 1)[1]
    paragraphs = (f"{city}. {first}",) + source.paragraphs[1:-1] + (source.paragraphs[-1] + " " + note,)
    attachments = tuple(
        dataclasses.replace(a, attachment_id=attachment_id + i) for i, a in enumerate(source.attachments)
    )
    return dataclasses.replace(
        source,
        id=article_id,
        published_at=when,
        paragraphs=paragraphs,
        attachments=attachments,
        reissue_of=source.id,
        slug=source.slug,
    )
