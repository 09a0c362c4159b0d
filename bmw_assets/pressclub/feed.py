"""Parsing PressClub rss2 pages (full article bodies) without trusting the XML."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from bmw_assets.pressclub.urls import article_id_in

_ATOM = "{http://www.w3.org/2005/Atom}"
_ITEM = re.compile(rb"<item[\s>].*?</item\s*>", re.S)
_PUB_DATE = re.compile(rb"<pubDate>\s*([^<]*?)\s*</pubDate>")
_LINK = re.compile(rb"<link>\s*([^<]*?)\s*</link>")
# Reading item by item parses the page's frame once per item: bounded, for a hostile page.
MAX_ITEMS_ONE_BY_ONE, MAX_FRAME_BYTES = 500, 1024 * 1024  # a real page: ~20 items, a 1 KB frame


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
class DamagedItem:
    """An item that is not well-formed XML: its position on the page (1-based), the article id
    found in its text (None when none), and the parser's complaint."""

    position: int
    id: str | None
    error: str


@dataclass(frozen=True)
class FeedPage:
    """`items` in feed order; an item that could not be parsed but names an article id is among
    them without title or body (its detail page supplies those), and is listed in `damaged`."""

    items: list[FeedItem]
    next_href: str | None  # as written in `atom:link rel="next"`, not yet rebased
    damaged: list[DamagedItem] = field(default_factory=list)


def _text(element: Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _published_at(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
    return parsed if parsed is None or parsed.tzinfo else None


def _parse_xml(data: bytes) -> Element:
    """The document's root; NotAFeed when it is no well-formed, entity-free XML."""
    try:
        return SafeElementTree.fromstring(data)
    except (ParseError, DefusedXmlException) as error:
        raise NotAFeed(f"not an RSS document ({error}); first bytes: {data[:60]!r}") from error


def _channel(root: Element) -> Element:
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise NotAFeed(f"expected <rss><channel>, got <{root.tag}>")
    return channel


def parse_feed_page(data: bytes) -> FeedPage:
    """Items and next link of one rss2 page; raises NotAFeed for anything that is not RSS.

    Entity declarations and external references are refused (defusedxml), so a
    hostile feed cannot expand entities or read files. Items without an article
    id in guid or link are skipped. A page that is not well-formed is read item by
    item: one bad item (a control character in a title) costs that item's fields,
    not the page; the page is NotAFeed only when its frame (rss, channel) is broken.
    """
    try:
        channel = _channel(_parse_xml(data))
    except NotAFeed:
        return _parse_item_by_item(data)
    return FeedPage(items=_items(channel), next_href=_next_href(channel))


def _parse_item_by_item(data: bytes) -> FeedPage:
    chunks = list(_ITEM.finditer(data))
    if not chunks:
        raise NotAFeed(f"not an RSS document (no well-formed frame nor items); first bytes: {data[:60]!r}")
    head, tail = data[: chunks[0].start()], data[chunks[-1].end() :]
    if len(chunks) > MAX_ITEMS_ONE_BY_ONE or len(head) + len(tail) > MAX_FRAME_BYTES:
        raise NotAFeed(
            f"not well-formed, and too large to read item by item ({len(chunks)} items, "
            f"a frame of {len(head) + len(tail)} bytes)"
        )
    channel = _channel(_parse_xml(head + tail))  # raises NotAFeed when the frame itself is broken
    items: list[FeedItem] = []
    damaged: list[DamagedItem] = []
    for position, chunk in enumerate(chunks, start=1):
        try:
            items += _items(_channel(_parse_xml(head + chunk.group(0) + tail)))
        except NotAFeed as error:
            text = chunk.group(0).decode("utf-8", "replace")
            article_id = article_id_in(text)
            damaged.append(DamagedItem(position, article_id, str(error.__cause__ or error)))
            if article_id is not None:
                link, date = _LINK.search(chunk.group(0)), _PUB_DATE.search(chunk.group(0))
                items.append(FeedItem(
                    id=article_id, title="", link=link.group(1).decode("utf-8", "replace") if link else "",
                    published_at=_published_at(date.group(1).decode("ascii", "replace")) if date else None,
                    description_html="",
                ))  # fmt: skip
    return FeedPage(items=items, next_href=_next_href(channel), damaged=damaged)


def _items(channel: Element) -> list[FeedItem]:
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
    return items


def _next_href(channel: Element) -> str | None:
    return next(
        (link.get("href") for link in channel.iter(f"{_ATOM}link") if link.get("rel") == "next" and link.get("href")),
        None,
    )
