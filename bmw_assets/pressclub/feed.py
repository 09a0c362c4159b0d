"""Parsing PressClub rss2 pages (full article bodies) without trusting the XML."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from bmw_assets.pressclub.urls import article_id_in

_ATOM = "{http://www.w3.org/2005/Atom}"


class NotAFeed(ValueError):
    """The response is not an RSS document; the site answers so past the last page."""


@dataclass(frozen=True)
class FeedItem:
    """One rss2 item: `description_html` is the article body as HTML ("" when missing)."""

    id: str
    title: str
    link: str
    published_at: datetime | None
    description_html: str


@dataclass(frozen=True)
class FeedPage:
    items: list[FeedItem]
    next_href: str | None  # as written in `atom:link rel="next"`, not yet rebased


def _text(element: Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _published_at(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
    return parsed if parsed is None or parsed.tzinfo else None


def parse_feed_page(data: bytes) -> FeedPage:
    """Items and next link of one rss2 page; raises NotAFeed for anything that is not RSS.

    Entity declarations and external references are refused (defusedxml), so a
    hostile feed cannot expand entities or read files. Items without an article
    id in guid or link are skipped.
    """
    try:
        root = SafeElementTree.fromstring(data)
    except (ParseError, DefusedXmlException) as error:
        raise NotAFeed(f"not an RSS document ({error}); first bytes: {data[:60]!r}") from error
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise NotAFeed(f"expected <rss><channel>, got <{root.tag}>")
    items = []
    for item in channel.iter("item"):
        guid, link = _text(item.find("guid")), _text(item.find("link"))
        article_id = article_id_in(guid) or article_id_in(link)
        if article_id is None:
            continue
        items.append(
            FeedItem(
                id=article_id,
                title=_text(item.find("title")),
                link=link,
                published_at=_published_at(_text(item.find("pubDate"))),
                description_html=(item.findtext("description") or "").strip(),
            )
        )
    next_href = next(
        (link.get("href") for link in channel.iter(f"{_ATOM}link") if link.get("rel") == "next" and link.get("href")),
        None,
    )
    return FeedPage(items=items, next_href=next_href)
