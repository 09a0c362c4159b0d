"""The PressClub URL scheme: article ids, detail/attachment/feed URLs, and keeping links on the base."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# T + 7 digits + language, optionally a regional suffix: T0454296EN, T0443395EN_US.
ARTICLE_ID = re.compile(r"\bT\d{7}[A-Z]{2}(?:_[A-Z]{2})?\b")
_DETAIL_PATH = re.compile(r"/article/detail/(T\d{7}[A-Z]{2}(?:_[A-Z]{2})?)(?:/|$|\?)")
_ATTACHMENT_PATH = re.compile(r"/article/attachment/T\d{7}[A-Z]{2}(?:_[A-Z]{2})?/\d+(?:/|$)")


def article_id_in(text: str) -> str | None:
    """The first article id in a guid, link or any text, or None."""
    match = ARTICLE_ID.search(text or "")
    return match.group(0) if match else None


def article_id_from_detail_url(url: str) -> str | None:
    """The id in a detail URL (`…/article/detail/T0454296EN/slug`), or None for other URLs."""
    match = _DETAIL_PATH.search(urlsplit(url).path + "?")
    return match.group(1) if match else None


def is_attachment_url(url: str) -> bool:
    """True for `…/article/attachment/<id>/<number>[/file name]`, not for the oneclick bundle."""
    return bool(_ATTACHMENT_PATH.search(urlsplit(url).path))


def language_of(article_id: str) -> str:
    """`T0454296EN` -> "en"; `T0443395EN_US` -> "en-US"."""
    match = re.fullmatch(r"T\d{7}([A-Z]{2})(?:_([A-Z]{2}))?", article_id)
    if not match:
        raise ValueError(f"{article_id!r} is not a PressClub article id like T0454296EN or T0443395EN_US")
    return match.group(1).lower() + (f"-{match.group(2)}" if match.group(2) else "")


def detail_url(base_url: str, article_id: str) -> str:
    """The slug-less detail URL, which the site accepts: `<base>/article/detail/<id>?language=en`."""
    return f"{base_url}/article/detail/{article_id}?language={language_of(article_id)[:2]}"


def feed_url(base_url: str, topic: int | None = None) -> str:
    """The rss2 feed (full bodies): global, or one topic's."""
    return f"{base_url}/rss2" if topic is None else f"{base_url}/rss2/topic/{topic}"


def rebase_next_link(href: str, current_url: str) -> str:
    """The next feed page as a URL on the configured base: `current_url` with the href's query.

    The site writes next links without `/global` and with its public host
    (`https://www.press.bmwgroup.com/rss/topic/803?page=2`), so only the query
    (`page=N`) is taken from the href; scheme, host and path stay those of the
    page being read, which keeps paging on-host and on the same feed.
    """
    current = urlsplit(current_url)
    return urlunsplit((current.scheme, current.netloc, current.path, urlsplit(href).query, ""))
