"""The furniture-lines detector: it flags each kind of furniture left in a cleaned text and lets
body text through."""

import pytest

from bmw_assets.text.furniture_detector import FURNITURE_SIGNS, detect_furniture_lines

BODY = (
    "Munich. The new model arrives at dealers in the spring and brings a completely new operating system.\n\n"
    "Production starts at Plant Dingolfing in March, where the team has prepared the assembly lines.\n\n"
    "Date and venue of the event will be announced in May 2026, said the head of sales."
)

LEFT_OVER = {
    "phone": "Tel.: +49 89 382-12345",
    "email": "jane.doe@bmw.de,",
    "web": "LinkedIn: https://www.linkedin.com/company/bmw-group/",
    "contact_opener": "If you have any questions, please contact:",
    "consumption": "BMW iX1 eDrive20: energy consumption combined: 15,4 kWh/100 km (WLTP); CO2 class: A",
    "header": "BMW Group Media Information 03/2016 Page 1",
    "photo_code": "Photos: P90512345",
    "company_profile": "With its four brands BMW, MINI, Rolls-Royce and BMW Motorrad, the BMW Group is the leader.",
}


def test_every_sign_has_an_example():
    assert set(LEFT_OVER) == set(FURNITURE_SIGNS)


@pytest.mark.parametrize("sign", sorted(LEFT_OVER))
def test_a_left_over_line_is_flagged_and_the_body_is_not(sign):
    found = detect_furniture_lines([("T1", f"{BODY}\n\n{LEFT_OVER[sign]}")])
    assert found.paragraphs == 4 and found.flagged == 1
    assert sign in found.by_sign
    assert found.examples == [{"article_id": "T1", "signs": ", ".join(found.by_sign), "text": LEFT_OVER[sign]}]


def test_clean_body_is_not_flagged():
    found = detect_furniture_lines([("T1", BODY), ("T2", BODY)])
    assert (found.paragraphs, found.flagged, found.flagged_share) == (6, 0, 0.0)
