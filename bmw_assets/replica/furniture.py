"""Boilerplate that real press releases carry around the body (contacts, company
profile, consumption notes, address), shared by the replica's HTML pages and PDFs.

Written for the replica in the style of the real site; wording and people are made up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bmw_assets.replica.corpus import ReplicaArticle


@dataclass(frozen=True)
class PressContact:
    name: str
    title: str
    phone: str
    email: str


CONTACTS = [
    PressContact(
        "Martina Hollerbach",
        "Spokesperson Product Communications BMW",
        "+49 89 382-27531",
        "Martina.Hollerbach@bmwgroup.com",
    ),
    PressContact(
        "Georg Wendlinger",
        "Spokesperson Corporate and Financial Communications",
        "+49 89 382-61148",
        "Georg.Wendlinger@bmwgroup.com",
    ),
    PressContact(
        "Ursula Kerschbaum",
        "Spokesperson MINI Product Communications",
        "+49 89 382-59902",
        "Ursula.Kerschbaum@mini.com",
    ),
    PressContact(
        "Dominik Strasser", "Spokesperson BMW Motorrad", "+49 89 382-44417", "Dominik.Strasser@bmw-motorrad.com"
    ),
    PressContact(
        "Franziska Oberauer",
        "Spokesperson BMW M Motorsport",
        "+49 89 382-30965",
        "Franziska.Oberauer@bmw-motorsport.com",
    ),
    PressContact(
        "Konstantin Rehlinger",
        "Head of Innovation and Technology Communications",
        "+49 89 382-70128",
        "Konstantin.Rehlinger@bmwgroup.com",
    ),
]
FAX = "+49 89 382-24418"
MEDIA_WEBSITE = "www.press.bmwgroup.com"
PRESS_EMAIL = "presse@bmwgroup.com"
SOCIAL_LINES = [
    "Facebook: http://www.facebook.com/BMWGroup",
    "Instagram: https://www.instagram.com/bmwgroup",
    "YouTube: http://www.youtube.com/BMWGroupView",
    "LinkedIn: https://www.linkedin.com/company/bmw-group/",
    "X: https://x.com/BMWGroup",
]
ADDRESS_LINES = [
    "Company Bayerische Motoren Werke Aktiengesellschaft",
    "Postal address BMW AG 80788 München",
    "Office address Petuelring 130 80809 München",
    "Telephone +49 89 382-0",
    "Internet www.bmwgroup.com",
]
ABOUT_HEADING_EN = "The BMW Group"
ABOUT_EN = (
    "The BMW Group, with its brands BMW, MINI, Rolls-Royce and BMW Motorrad, is one of the leading "
    "premium makers of cars and motorcycles and also offers premium financial and mobility services. "
    "Its production network spans more than 30 sites in over 15 countries, and its sales network "
    "reaches customers in more than 140 countries. The company employs well over 150,000 people. "
    "Long-term thinking and responsible action have always shaped its success: sustainability and "
    "careful use of resources are anchored in its strategy, from the supply chain through production "
    "to the end of each product's life."
)
ABOUT_HEADING_DE = "Die BMW Group"
ABOUT_DE = (
    "Die BMW Group ist mit ihren Marken BMW, MINI, Rolls-Royce und BMW Motorrad einer der führenden "
    "Premium-Hersteller von Automobilen und Motorrädern und bietet zudem Finanz- und Mobilitätsdienste an. "
    "Das Produktionsnetzwerk umfasst mehr als 30 Standorte in über 15 Ländern. Langfristiges Denken und "
    "verantwortungsvolles Handeln sind seit jeher die Grundlage des wirtschaftlichen Erfolges."
)
CONSUMPTION_NOTE = (
    "The fuel consumption, CO2 emission, power consumption and range figures were determined according "
    "to the Worldwide Harmonised Light Vehicles Test Procedure (WLTP). Figures shown under NEDC were "
    "calculated with a conversion model and are given for comparison only. For further details on "
    "official fuel consumption and specific CO2 emissions of new cars, see the guideline on fuel "
    "consumption, CO2 emissions and power consumption of new passenger cars, available free of charge "
    "at all sales outlets."
)
CONTACT_INTRO = "In case of queries, please contact:"


def contact_for(article: ReplicaArticle) -> PressContact:
    """The press contact named on an article (stable per article id)."""
    return random.Random(article.id).choice(CONTACTS)


def consumption_summary(article: ReplicaArticle) -> str:
    """The one-line CO2/consumption summary shown above the body's end."""
    rng = random.Random(article.id + "co2")
    if rng.random() < 0.5:
        return (
            f"Power consumption combined: {rng.randint(150, 220) / 10:.1f} kWh/100 km (WLTP); "
            "CO2 emissions combined: 0 g/km; CO2 class: A"
        )
    fuel = rng.randint(50, 110) / 10
    return (
        f"Fuel consumption combined: {fuel:.1f} l/100 km (WLTP); "
        f"CO2 emissions combined: {round(fuel * 23.5)} g/km; CO2 class: {rng.choice('CDEFG')}"
    )


def photo_codes(article: ReplicaArticle) -> list[str]:
    """Photo codes like P90534112 printed in PDFs (stable per article id)."""
    rng = random.Random(article.id + "photo")
    first = rng.randint(490000, 560000)
    return [f"P90{first + k:06d}" for k in range(rng.randint(1, 4))]


def has_german_about(article: ReplicaArticle) -> bool:
    """Some releases also carry the German company profile (stable per id)."""
    return random.Random(article.id + "de").random() < 0.3
