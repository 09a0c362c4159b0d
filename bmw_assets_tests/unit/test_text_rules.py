"""Every cleaning rule: what it removes, and body text it must leave alone."""

import re
import textwrap

import pytest

from bmw_assets.text.cleaning import clean_pdf_text
from bmw_assets.text.normalise import normalise_characters, rebuild_paragraphs
from bmw_assets.text.quality import token_prf
from bmw_assets.text.rules import CLEANING_RULES, CleaningRule

BODY_BEFORE = (
    "Munich. The new model arrives at dealers in the spring and brings a completely new operating "
    "system, developed in house over three years, together with more efficient drive units."
)
BODY_AFTER = (
    "Production starts at Plant Dingolfing in March, where the team has prepared the assembly lines "
    "for the electric and the plug-in hybrid versions of the model."
)


def laid_out(paragraph: str) -> str:
    """A paragraph as a PDF prints it: wrapped at 90 characters, no blank line after it."""
    return "\n".join(textwrap.wrap(paragraph, 90))


# Furniture as pypdf extracts it, one or more examples per rule name.
FURNITURE: dict[str, list[str]] = {
    "consumption_footnote": [
        "BMW iX1 eDrive20: energy consumption combined: 15,4 kWh/100 km (WLTP); CO2 emissions combined: 0 g/km "
        "(WLTP); CO2 class: A",
        "BMW X1 sDrive18i: fuel consumption combined: 10,0 l /100 km (WLTP); CO2 emissions combined: 228 g/km\n"
        "(WLTP); CO2 class: G.",
        "BMW M5: fuel consumption combined: 10.6 l/100 km; CO2 emissions combined: 241 g/km",
    ],
    "header_line": [
        "BMW Group\nCorporate Communications\nMedia Information",
        "BMW Group Presse-Information",
        "Press Information",
        "BMW Group Media Information 03/2016 Page 1",
        "CONFIDENTIAL",
    ],
    "date_line": ["Date 13 May 2026", "13.05.2026", "Datum: 4. März 2025", "May 13, 2026"],
    "subject_line": [
        "Subject The new BMW iX3: a new era begins.",
        "Betreff: Der neue BMW X3.",
        "Topic The BMW Group at the IAA Mobility 2025",
        "Thema Die neue BMW 3er Limousine",
    ],
    "page_number": ["Page 2", "Seite 3", "Page 2 of 5", "- 4 -", "2/5"],
    "photo_code_line": ["P90512345", "Photos: P90512345, P90512346"],
    "contact_heading_and_names": [
        "In case of queries, please contact:\nMartina Hollerbach\nSpokesperson Product Communications BMW\n"
        "Telephone: +49 89 382-27531\nE-mail: Martina.Hollerbach@bmwgroup.com",
        "Press contact\nJulia Keller\nTel. +49 89 382-12345",
    ],
    "contact_opener": [
        "If you have any questions, please contact:\n\nJulia Keller, Communications Finance\n"
        "Tel.: +49 89 382-12345, julia.keller@bmw.de",
        "Bitte wenden Sie sich bei Rückfragen an:",
        "For further questions please contact:\n\nMarkus Vogel\nspokesperson Corporate Citizenship\nTel.:\n"
        "+49 89 382-54321\nmarkus.vogel@bmwgroup.com,\n\nDr. Anna Roth, Head of Communications MINI\n"
        "Tel.: +49 89 382-11111, anna.roth@mini.com",
        "Press Contact.",
        "Media Contact.\n\nAnna Keller\nCommunications Finance\nTel.: +49 89 382-12345\nanna.keller@bmw.de,",
    ],
    "contact_person": [
        "Markus Vogel\nHead of Communications MINI\nPhone +49 89 382-54321",
        "Dr. Julia Keller\nspokesperson Corporate Citizenship\nTel.:\n+49 89 382-12345",
        "Julia Keller, Communications Finance The BMW Group\nTel.: +49 89 382-12345, julia.keller@bmw.de",
    ],
    "contact_detail": [
        "Fax: +49 89 382-24418",
        "presse@bmwgroup.com",
        "Telephone +49 89 382-0",
        "Tel.: +49 89 382-12345, julia.keller@bmw.de",
        "julia.keller@bmw.de,",
        "Tel.:",
    ],
    "consumption_heading": [
        "CO2 emission information.\nBMW iX1 eDrive20: energy consumption combined: 15,4 kWh/100 km (WLTP); "
        "CO2 emissions combined: 0 g/km (WLTP); CO2 class: A",
        "Fuel consumption and CO2 emissions.",
    ],
    "company_address": [
        "Company Bayerische Motoren Werke Aktiengesellschaft\nPostal address BMW AG 80788 München\n"
        "Office address Petuelring 130 80809 München",
        "Company\nBayerische\nMotoren Werke\nAktiengesellschaft\nPostal address\nBMW AG\n80788 München",
    ],
    "web_and_social_line": [
        "www.bmwgroup.com",
        "Media website: www.press.bmwgroup.com\nLinkedIn: https://www.linkedin.com/company/bmw-group/\n"
        "X: https://x.com/BMWGroup",
        "Internet www.bmwgroup.com",
    ],
    "about_company_heading": ["Über die BMW Group"],
    "about_company_profile": [
        laid_out(
            "With its four brands BMW, MINI, Rolls-Royce and BMW Motorrad, the BMW Group is the world's "
            "leading premium manufacturer of automobiles and motorcycles and also provides premium financial "
            "and mobility services."
        ),
        "The BMW Group\n"
        + laid_out(
            "The BMW Group, with its brands BMW, MINI, Rolls-Royce and BMW Motorrad, is one of the leading "
            "premium makers of cars and motorcycles. Its production network spans more than 30 sites."
        ),
        laid_out(
            "The BMW Group is the world's leading premium manufacturer of automobiles and motorcycles and also "
            "provides premium financial and mobility services. As a global company, the BMW Group operates 31 "
            "production and assembly facilities in 14 countries."
        ),
        laid_out(
            "Die BMW Group ist mit ihren Marken BMW, MINI, Rolls-Royce und BMW Motorrad einer der führenden "
            "Premium-Hersteller von Automobilen und Motorrädern."
        ),
    ],
    "about_company_en": [
        laid_out(
            "In 2024, the BMW Group sold over 2.45 million passenger vehicles and more than 210,000 "
            "motorcycles worldwide. The profit before tax was € 11.0 billion."
        ),
        laid_out(
            "The economic success of the BMW Group has always been based on long-term thinking and responsible action."
        ),
        laid_out(
            "The success of the BMW Group has always been based on long-term thinking and responsible action. "
            "The company has therefore established ecological and social sustainability throughout the value chain."
        ),
    ],
    "about_company_de": [
        laid_out(
            "Der wirtschaftliche Erfolg der BMW Group basiert seit jeher auf langfristigem Denken und "
            "verantwortungsvollem Handeln."
        ),
    ],
    "consumption_figures": [
        "BMW iX3 50 xDrive: combined power consumption: 17.5 kWh/100 km (WLTP); combined CO2 emissions:\n"
        "0 g/km; CO2 class: A",
        laid_out("Combined fuel consumption 7.2 l /100 km (WLTP); combined CO2 emissions 169 g/km; CO2 class: E"),
    ],
    "consumption_disclaimer": [
        laid_out(
            "The fuel consumption, CO2 emission, power consumption and range figures were determined "
            "according to the Worldwide Harmonised Light Vehicles Test Procedure (WLTP). Figures shown under "
            "NEDC were calculated with a conversion model and are given for comparison only."
        ),
        laid_out(
            "All figures relating to fuel consumption and CO2 emissions were determined in accordance with "
            "the NEDC as laid down in Regulation (EC) 715/2007."
        ),
        laid_out(
            "For further details on official fuel consumption and specific CO2 emissions of new cars, see the "
            "guideline, available free of charge at all sales outlets."
        ),
        laid_out(
            "The figures for fuel consumption, CO2 emissions and energy consumption are calculated in accordance "
            "with the measurement procedure prescribed by Regulation (EC) No 715/2007 in the version applicable at "
            "the time of type approval. The figures refer to a vehicle with basic configuration in Germany."
        ),
        laid_out(
            "The CO2 efficiency classes are determined according to the Passenger Car Energy Consumption Labelling "
            "Ordinance (Pkw-EnVKV) in the version applicable at the time, using the NEDC values."
        ),
    ],
}

# Furniture left inside a body line rather than on lines of its own.
INLINE_FURNITURE: dict[str, str] = {
    "photo_code_inline": BODY_BEFORE.replace("new operating", "new (P90512345) operating"),
}


def test_every_rule_has_a_removal_example():
    covered = set(FURNITURE) | set(INLINE_FURNITURE)
    assert {rule.name for rule in CLEANING_RULES} == covered


@pytest.mark.parametrize(
    ("rule_name", "furniture"),
    [(name, example) for name, examples in FURNITURE.items() for example in examples],
)
def test_rule_removes_its_furniture_between_body_paragraphs(rule_name: str, furniture: str):
    # blank lines: the vertical gaps read_pdf_pages marks around a block
    raw = f"{laid_out(BODY_BEFORE)}\n\n{furniture}\n\n{laid_out(BODY_AFTER)}"
    cleaned = clean_pdf_text(raw)
    assert rule_name in cleaned.rules_hit
    assert cleaned.text == f"{BODY_BEFORE}\n\n{BODY_AFTER}"


@pytest.mark.parametrize("rule_name", sorted(INLINE_FURNITURE))
def test_rule_removes_inline_furniture(rule_name: str):
    cleaned = clean_pdf_text(laid_out(INLINE_FURNITURE[rule_name]))
    assert rule_name in cleaned.rules_hit
    assert cleaned.text == BODY_BEFORE


# Body text that looks like furniture. Written as laid-out lines so that lines start with the
# dangerous words, as they would in a PDF.
DANGEROUS_BODY = [
    "Subject to approval by the supervisory board, the new plant will open in 2027 and employ\n1,500 people.",
    "Subject\nThe following paragraph is body text: the new model reaches customers in June and is\n"
    "built at Plant Leipzig alongside the current range.",
    "The launch film tells the story page by page, and the brochure follows the same idea over\n"
    "Page after page of photographs and sketches from the design studio in Munich.",
    "Corporate Communications will host the event in Munich, where journalists can test the car.",
    "Communications between the vehicle and the charging station run over the ISO 15118 standard,\n"
    "Media representatives can book test drives from 2 June until 14 June 2026.",
    "Customers can call +49 89 382-0 or write to info@bmw.de to book a test drive at the plant,\n"
    "Telephone support: customers can call 0800 123 456 around the clock, said the company.",
    "Questions can be sent by e-mail to the organisers before 12 May, and by telephone\n"
    "to the event office after that.",
    "About the company: founded in 1916, the BMW Group has grown from an aircraft engine maker into\n"
    "a global mobility company with plants on four continents.",
    "The BMW Group sold 2.45 million vehicles in 2024, more than ever before in its history.",
    "In 2024, the BMW Group sold more electrified vehicles than in any previous year, said Jonas Pohl.",
    "The BMW Group is investing 1.5 billion euros in Plant Debrecen, which opens in 2025.",
    "The new BMW X5 xDrive50e achieves a range of up to 110 km in the WLTP cycle; the figures\n"
    "were measured by an independent testing organisation.",
    "Energy consumption in everyday use is about 15 kWh/100 km, the engineers say, and the figure\n"
    "improves further in summer.",
    "Contact with customers remains central, said Anna Vogel, Head of Sales.",
    "For further questions about the programme, the dealers remain the first point of contact.",
    "Company founder Karl Rapp started building aircraft engines in 1913.",
    "Date and venue of the event will be announced in May 2026.",
    "Internet access in the car is provided over 5G, and the website bmw.com lists every feature.",
    "The plug-in hybrid and the e-mobility strategy of the company were presented by the Board of\n"
    "Management on 13 May 2026 in Munich.",
    "Munich. The model range now has 12 variants, and 3 of them are new. The price is 54,900 euros.",
    "Germany, the United States and China are the three largest markets for the brand.",
    "With its brands the company reaches customers in more than 140 countries.",
    "Further information on the official launch of the model follows in June, said the company.",
    "Photos from the event show the BMW Group team with the new model at Plant Munich.",
    "CO2 emission information for every model is published in the configurator, together with the\n"
    "Topic of charging at home, which customers ask about most.",
    "Press contacts with the media were intense, and the Contact team answered every question.",
    "Energy consumption combined with recuperation falls to 14 kWh/100 km in town, the engineers say.",
]


def _text_at_stage(rule: CleaningRule, layout: str) -> str:
    lines = normalise_characters(layout)
    return lines if rule.stage == "lines" else rebuild_paragraphs(lines)


@pytest.mark.parametrize("rule", CLEANING_RULES, ids=lambda rule: rule.name)
@pytest.mark.parametrize("body", DANGEROUS_BODY, ids=lambda body: body[:24])
def test_rule_leaves_body_text_alone(rule: CleaningRule, body: str):
    text = _text_at_stage(rule, body)
    assert rule.compiled.search(text) is None, f"{rule.name} would remove {rule.compiled.search(text).group(0)!r}"


def test_cleaning_keeps_every_token_of_dangerous_body_text():
    layout = "\n".join(DANGEROUS_BODY)
    cleaned = clean_pdf_text(layout)
    assert cleaned.rules_hit == ()
    assert token_prf(cleaned.text, layout).f1 == 1.0


def test_furniture_around_a_whole_release_is_removed_and_paragraphs_kept():
    raw = "\n".join(
        [
            "Corporate Communications",
            "Media Information",
            "13 May 2026",
            "Subject The new BMW iX3.",
            "Page 1",
            laid_out(BODY_BEFORE),
            "P90512345",
            "\fCorporate Communications\nMedia Information\nPage 2 of 2",
            laid_out(BODY_AFTER),
            "The BMW Group",
            FURNITURE["about_company_profile"][0],
            "In case of queries, please contact:",
            "Martina Hollerbach",
            "Telephone: +49 89 382-27531",
            "www.bmwgroup.com",
        ]
    )
    assert clean_pdf_text(raw).text == f"{BODY_BEFORE}\n\n{BODY_AFTER}"


def test_a_rule_with_dotall_is_refused():
    with pytest.raises(ValueError, match="DOTALL"):
        CleaningRule("greedy", r"Subject.*?\n\n", "anything", re.DOTALL | re.IGNORECASE)


def test_a_period_less_footnote_before_a_page_break_keeps_the_next_body_paragraph():
    # The footnote sits at the foot of a page in small type (a line longer than a body line), the
    # next page's header is furniture, and the body paragraph follows: rebuilt into one paragraph,
    # the consumption rule used to delete the body paragraph with the footnote.
    footnote = (
        "BMW iX1 eDrive20: energy consumption combined: 15,4 kWh/100 km (WLTP); CO2 emissions combined: "
        "0 g/km (WLTP); CO2 class: A"
    )
    raw = (
        f"{laid_out(BODY_BEFORE)}\n\n{footnote}\n"
        "Company Bayerische Motoren Werke Aktiengesellschaft\fBMW Group\nMedia Information\nPage 2\n\n"
        f"{laid_out(BODY_AFTER)}"
    )
    cleaned = clean_pdf_text(raw)
    assert cleaned.text == f"{BODY_BEFORE}\n\n{BODY_AFTER}"


def test_the_releases_own_title_and_teaser_are_removed_where_printed_and_nowhere_else():
    title = "The new BMW iX3: a new era begins"
    teaser = "+++ Up to 805 km range +++ 400 kW charging +++"
    body = f"{title} with the new model, the company says, and it arrives in spring."
    raw = (
        f"{title}\n\nUp to 805 km range - 400 kW\ncharging\n\n{laid_out(BODY_BEFORE)}\n{body}\n\n{laid_out(BODY_AFTER)}"
    )
    cleaned = clean_pdf_text(raw, front_matter=(title, teaser))
    assert cleaned.text == f"{BODY_BEFORE}\n\n{body}\n\n{BODY_AFTER}"
    assert "release_front_matter" in cleaned.rules_hit
    assert clean_pdf_text(raw).text.startswith(title)  # without front matter nothing is removed
