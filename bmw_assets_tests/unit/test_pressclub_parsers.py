"""Parsers on hand-written PressClub snippets: the edge cases the real site shows."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from bmw_assets.pressclub.article_body import body_sha256, body_text_from_fragment
from bmw_assets.pressclub.feed import NotAFeed, parse_feed_page
from bmw_assets.pressclub.html_pages import parse_detail_page, parse_listing_page
from bmw_assets.pressclub.urls import (
    article_id_from_detail_url,
    is_attachment_url,
    language_of,
    rebase_next_link,
)

BASE = "http://127.0.0.1:8765/global"

FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
  <title>BMW Group PressClub</title>
  <atom:link href="https://www.press.bmwgroup.com/rss2/topic/803" rel="self"/>
  <atom:link href="https://www.press.bmwgroup.com/rss2/topic/803?page=2" rel="next"/>
  <item>
    <title>The new BMW X5</title>
    <guid isPermaLink="false">www.press.bmwgroup.com/T0457825EN</guid>
    <link>https://www.press.bmwgroup.com/global/article/detail/T0457825EN/the-new-bmw-x5%E2%80%99s-world-premi</link>
    <pubDate>Wed, 13 May 2026 17:26:19 +0200</pubDate>
    <description>&lt;img src="x.jpg"&gt;&lt;p&gt;Munich.&amp;nbsp;The BMW&amp;nbsp;X5 arrives.&lt;br&gt;It is new.&lt;/p&gt;&lt;p&gt;Second paragraph.&lt;/p&gt;</description>
  </item>
  <item>
    <title>Regional</title>
    <guid isPermaLink="false">www.press.bmwgroup.com/T0443395EN_US</guid>
    <link>https://www.press.bmwgroup.com/usa/article/detail/T0443395EN_US/regional</link>
    <pubDate>Tue, 12 May 2026 09:00:00 +0000</pubDate>
    <description></description>
  </item>
</channel>
</rss>"""


def test_feed_items_carry_ids_dates_and_body_html():
    page = parse_feed_page(FEED)
    assert [i.id for i in page.items] == ["T0457825EN", "T0443395EN_US"]
    first = page.items[0]
    assert first.title == "The new BMW X5"
    assert first.published_at == datetime(2026, 5, 13, 17, 26, 19, tzinfo=timezone(timedelta(hours=2)))
    assert (
        body_text_from_fragment(first.description_html) == "Munich. The BMW X5 arrives. It is new.\n\nSecond paragraph."
    )
    assert page.items[1].description_html == ""
    assert page.next_href == "https://www.press.bmwgroup.com/rss2/topic/803?page=2"


def test_next_link_without_global_is_rebased_onto_the_page_being_read():
    current = f"{BASE}/rss2/topic/803"
    assert rebase_next_link("https://www.press.bmwgroup.com/rss2/topic/803?page=2", current) == f"{current}?page=2"
    assert rebase_next_link("https://evil.example/steal?page=3", f"{current}?page=2") == f"{current}?page=3"


@pytest.mark.parametrize("body", [b"<html><body>Not found</body></html>", b"", b"page 99 does not exist"])
def test_anything_but_rss_is_not_a_feed(body):
    with pytest.raises(NotAFeed):
        parse_feed_page(body)


def test_a_bad_item_costs_that_item_not_the_page():
    broken = FEED.replace(b"<title>The new BMW X5", b"<title>The new BMW\x0b X5")
    page = parse_feed_page(broken)
    # The damaged item keeps its id and date (its detail page supplies title and body).
    assert [i.id for i in page.items] == ["T0457825EN", "T0443395EN_US"]
    assert (page.items[0].title, page.items[0].description_html) == ("", "")
    assert page.items[0].published_at == datetime(2026, 5, 13, 17, 26, 19, tzinfo=timezone(timedelta(hours=2)))
    assert page.items[1].title == "Regional" and page.next_href.endswith("?page=2")
    [damaged] = page.damaged
    assert (damaged.position, damaged.id) == (1, "T0457825EN") and "not well-formed" in damaged.error
    # An item that names no article any more is listed as damaged, without id.
    nameless = broken.replace(b"T0457825EN", b"T\x01")
    assert [i.id for i in parse_feed_page(nameless).items] == ["T0443395EN_US"]
    assert parse_feed_page(nameless).damaged[0].id is None
    # A broken frame is still no feed, and entities stay refused on the item-by-item path.
    with pytest.raises(NotAFeed):
        parse_feed_page(broken.replace(b"<channel>", b"<channel\x01>"))
    with pytest.raises(NotAFeed):
        parse_feed_page(b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]>' + broken.split(b"?>", 1)[1])


def test_entity_expansion_is_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><rss><channel>&b;</channel></rss>'
    )
    with pytest.raises(NotAFeed):
        parse_feed_page(bomb)


def test_ids_urls_and_languages():
    assert article_id_from_detail_url(f"{BASE}/article/detail/T0454296EN/the-%E2%80%98slug%E2%80%99") == "T0454296EN"
    assert article_id_from_detail_url(f"{BASE}/article/detail/T0454296EN?language=en") == "T0454296EN"
    assert article_id_from_detail_url(f"{BASE}/article/detail/T0443395EN_US/x") == "T0443395EN_US"
    assert article_id_from_detail_url(f"{BASE}/article/attachment/T0454296EN/630684") is None
    assert is_attachment_url(f"{BASE}/article/attachment/T0137145EN/208682/Specifications_X5.pdf")
    assert not is_attachment_url(f"{BASE}/oneclick/download/T0137145EN/attachment")
    assert language_of("T0443395EN_US") == "en-US" and language_of("T0454296EN") == "en"
    with pytest.raises(ValueError, match="T0454296EN"):
        language_of("X123")


DETAIL = """<html><body><div class="article-detail">
<h1>The new BMW&nbsp;X5</h1>
<h2 class="teaser">+++ Fourth generation +++ Plug-in hybrid +++</h2>
<div class="article-info"><span class="date">13.05.2026</span><span class="category">Press Release</span></div>
<div id="article-text">
  <p>Munich.&nbsp;The new BMW X5
  arrives in spring.</p>
  <div class="text co2_summary"><p>Fuel consumption combined: 1.2 l/100 km; CO2 emissions: 28 g/km.</p></div>
  <p><b>Design</b>&nbsp;matters<br/>a lot.<br><br>Power: 210&nbsp;kW.</p>
  <p>&nbsp;</p>
  <p><strong>In case of queries, please contact:</strong><br>Corporate Communications<br>Jane Doe</p>
  <p><strong>The BMW Group</strong><br>The BMW Group, with its brands BMW, MINI, ...</p>
</div>
<div class="downloads">
  <a href="/global/article/attachment/T0454296EN/630684">Press release (PDF)</a>
  <a href="https://www.press.bmwgroup.com/global/article/attachment/T0454296EN/630685/Specs.pdf">Specs</a>
  <a href="/global/article/attachment/T0454296EN/630684">again</a>
  <a href="/global/oneclick/download/T0454296EN/attachment">all</a>
</div>
<div class="tag" data-tag-id="4100">BMW</div><div class="tag" data-tag-id="803">Corporate</div>
</div></body></html>"""


def test_detail_page_fields_and_clean_body():
    page = parse_detail_page(DETAIL, f"{BASE}/article/detail/T0454296EN/the-new-bmw-x5")
    assert page.title == "The new BMW X5"
    assert page.teaser == "+++ Fourth generation +++ Plug-in hybrid +++"
    assert page.published_on == date(2026, 5, 13)
    assert page.category == "Press Release"
    assert page.body_text == "Munich. The new BMW X5 arrives in spring.\n\nDesign matters a lot.\n\nPower: 210 kW."
    assert page.attachment_urls == [
        f"{BASE}/article/attachment/T0454296EN/630684",
        "https://www.press.bmwgroup.com/global/article/attachment/T0454296EN/630685/Specs.pdf",
    ]
    assert page.topics == ["4100", "803"]


def test_detail_page_without_article_text_falls_back_to_trafilatura():
    paragraphs = [
        f"Munich. Paragraph number {i} of a long enough press release about electric mobility and design."
        for i in range(6)
    ]
    html = (
        "<html><body><main><article>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</article></main></body></html>"
    )
    page = parse_detail_page(html, f"{BASE}/article/detail/T0454296EN")
    assert page.body_text.split("\n\n") == paragraphs


def test_listing_items():
    html = """<html><body>
    <article data-id="558538" data-category="1" class="newsfeed clear-after">
      <div class="text"><h3><a href="/global/article/detail/T0454296EN/the-new-bmw-x5-%E2%80%93-cut-mid-wo">The new BMW X5</a></h3>
      <div class="info"><h4><span class="date">13.05.2026</span><span class="category">Press Release</span></h4></div>
      <p class="serif">The teaser&nbsp;text.</p>
      <div class="tag" data-tag-id="4100">BMW</div><div class="tag" data-tag-id="5236">Technology</div></div>
    </article>
    <article data-id="1" class="newsfeed"><div class="text"><h3><a href="/global/about">no article</a></h3></div></article>
    </body></html>"""
    [item] = parse_listing_page(html, f"{BASE}/article")
    assert item.id == "T0454296EN" and item.internal_id == "558538" and item.category_code == "1"
    assert item.url == f"{BASE}/article/detail/T0454296EN/the-new-bmw-x5-%E2%80%93-cut-mid-wo"
    assert (item.title, item.published_on, item.category, item.teaser) == (
        "The new BMW X5", date(2026, 5, 13), "Press Release", "The teaser text.")  # fmt: skip
    assert item.topics == ["4100", "5236"]
    assert parse_listing_page("", f"{BASE}/article") == []


@pytest.mark.parametrize(
    "ending",
    [
        "<p>If you have any questions, please contact:</p><p>Jane Doe, +49 89 382 0</p>",
        "<p><b>The BMW Group</b><br>With its four brands ...</p>",
        "<p>The BMW Group</p><p>With its four brands BMW, MINI, Rolls-Royce and BMW Motorrad ...</p>",
        # Every contact opener and heading real releases use, and profiles without their heading.
        "<p>In case of queries, please contact:</p><p>Jane Doe</p>",
        "<p>For further questions please contact:</p><p>Jane Doe</p>",
        "<p>In the event of enquiries, please contact:</p><p>Jane Doe</p>",
        "<p>Bitte wenden Sie sich bei Rückfragen an:</p><p>Jane Doe</p>",
        "<p><strong>Press Contact.</strong></p><p>Jane Doe, Communications Finance</p>",
        "<p>Media Contact.</p><p>Jane Doe</p>",
        "<p><strong>Contact.</strong><br>Jane Doe</p>",
        "<p>CO2 emission information.</p><p>BMW iX1 eDrive20: energy consumption combined: 15,4 kWh/100 km</p>",
        "<p>With its four brands BMW, MINI, Rolls-Royce and BMW Motorrad, the BMW Group is ...</p>",
        "<p>The BMW Group is the world's leading premium manufacturer of automobiles and motorcycles.</p>",
        "<p>The success of the BMW Group has always been based on long-term thinking.</p>",
    ],
)
def test_body_ends_before_contact_and_company_profile(ending):
    fragment = "<p>Munich. The BMW Group today opened a plant.</p><p>It employs 1,000 people.</p>" + ending
    assert (
        body_text_from_fragment(fragment) == "Munich. The BMW Group today opened a plant.\n\nIt employs 1,000 people."
    )


def test_body_hash():
    assert body_sha256("a") == "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
