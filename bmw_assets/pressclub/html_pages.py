"""Parsing PressClub HTML: the article detail page and listing (newsfeed) items.

Selectors follow the site's markup (see docs in /work/shared/PRESSCLUB.md): detail
`div.article-detail h1`, `h2.teaser`, `.article-info .date/.category`,
`#article-text p`; listing `article[data-id]` with `div.text h3 > a`,
`span.date`, `span.category`, `p.serif`, `div.tag[data-tag-id]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urljoin

import lxml.html

from bmw_assets.pressclub.article_body import (
    body_paragraphs,
    body_text_by_trafilatura,
    normalise_paragraph,
)
from bmw_assets.pressclub.urls import (
    article_id_from_detail_url,
    article_id_in,
    is_attachment_url,
)


def _has_class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def _first_text(root: lxml.html.HtmlElement, xpath: str) -> str | None:
    found = root.xpath(xpath)
    if not found:
        return None
    text = normalise_paragraph(found[0].text_content())
    return text or None


def _parse_date(text: str | None) -> date | None:
    try:
        return datetime.strptime(text.strip(), "%d.%m.%Y").date() if text else None
    except ValueError:
        return None


@dataclass(frozen=True)
class DetailPage:
    """What a detail page says; `body_text` is "" when neither selectors nor trafilatura found a body."""

    title: str | None
    teaser: str | None
    published_on: date | None
    category: str | None
    body_text: str
    attachment_urls: list[str]
    topics: list[str]


def parse_detail_page(html: str | bytes, page_url: str) -> DetailPage:
    """Fields of an article detail page; relative links are resolved against `page_url`."""
    root = lxml.html.document_fromstring(html)
    text_containers = root.xpath("//*[@id='article-text']")
    if text_containers:
        body = "\n\n".join(body_paragraphs(text_containers[0]))
    else:
        body = body_text_by_trafilatura(html if isinstance(html, str) else html.decode("utf-8", "replace"))
    attachments: list[str] = []
    for href in root.xpath("//a/@href"):
        url = urljoin(page_url, href.strip())
        if is_attachment_url(url) and url not in attachments:
            attachments.append(url)
    info = f"//*[{_has_class('article-info')}]"
    return DetailPage(
        title=_first_text(root, f"//*[{_has_class('article-detail')}]//h1") or _first_text(root, "//h1"),
        teaser=_first_text(root, f"//h2[{_has_class('teaser')}]"),
        published_on=_parse_date(_first_text(root, f"{info}//*[{_has_class('date')}]")),
        category=_first_text(root, f"{info}//*[{_has_class('category')}]"),
        body_text=body,
        attachment_urls=attachments,
        topics=_unique(root.xpath(f"//*[{_has_class('tag')}]/@data-tag-id")),
    )


@dataclass(frozen=True)
class ListingItem:
    """One newsfeed entry; `internal_id` is the site's `data-id`, not the article id."""

    id: str
    internal_id: str | None
    url: str
    title: str | None
    published_on: date | None
    category: str | None
    category_code: str | None
    teaser: str | None
    topics: list[str]


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v.strip()))


def parse_listing_page(html: str | bytes, page_url: str) -> list[ListingItem]:
    """Listing entries (`article[data-id]`) that link to an article detail page, in page order."""
    if not (html.strip() if isinstance(html, str) else html.strip()):
        return []
    root = lxml.html.document_fromstring(html)
    items = []
    for entry in root.xpath("//article[@data-id]"):
        links = entry.xpath(f".//*[{_has_class('text')}]//h3/a[@href]") or entry.xpath(".//h3/a[@href]")
        if not links:
            continue
        url = urljoin(page_url, links[0].get("href").strip())
        article_id = article_id_from_detail_url(url) or article_id_in(url)
        if article_id is None:
            continue
        items.append(
            ListingItem(
                id=article_id,
                internal_id=entry.get("data-id"),
                url=url,
                title=normalise_paragraph(links[0].text_content()) or None,
                published_on=_parse_date(_first_text(entry, f".//*[{_has_class('date')}]")),
                category=_first_text(entry, f".//*[{_has_class('info')}]//*[{_has_class('category')}]"),
                category_code=entry.get("data-category"),
                teaser=_first_text(entry, f".//p[{_has_class('serif')}]"),
                topics=_unique(entry.xpath(f".//*[{_has_class('tag')}]/@data-tag-id")),
            )
        )
    return items
