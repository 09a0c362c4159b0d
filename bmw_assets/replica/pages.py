"""HTML pages of the replica, with the real PressClub's markup (see PRESSCLUB.md).

Detail page, `#article-text` holds, in order:
- the body paragraphs as `<p>`; numbers and units are joined by `&nbsp;`; every fourth
  paragraph is merged with the next one through `<br><br>` (a hard line break pair
  separates the two paragraphs); an empty `<p>&nbsp;</p>` closes the body;
- `div.text.co2_summary` (one consumption line);
- a `<p>` starting with the contact opener its PDF prints ("In case of queries, please contact:",
  "Bitte wenden Sie sich bei Rückfragen an:", "Press Contact.", ...; see `release_layout`);
- a `<p>` starting with `<strong>The BMW Group</strong>` (the company profile).
So `body_text` is recovered by taking the `p` elements before `div.co2_summary`, turning
`<br><br>` into a paragraph break and `&nbsp;` into a space, and dropping empty ones.
The same markup is the `description` of `/rss2` items (after an `<img>`).
"""

from __future__ import annotations

import re
from html import escape
from urllib.parse import quote

from bmw_assets.replica.corpus import CATEGORIES, TOPICS, ReplicaArticle
from bmw_assets.replica.furniture import (
    ABOUT_EN,
    ABOUT_HEADING_EN,
    FAX,
    consumption_summary,
    contact_for,
)
from bmw_assets.replica.release_layout import release_layout

LISTING_PAGE_SIZE = 30
_UNIT = re.compile(r"(\d) (kW|hp|km|euros|percent|vehicles|laps|seconds|square metres|jobs|guests)\b")


def detail_path(article: ReplicaArticle) -> str:
    return f"/global/article/detail/{article.id}/{quote(article.slug, safe=':-')}"


def attachment_path(article_id: str, attachment_id: int, filename: str | None) -> str:
    path = f"/global/article/attachment/{article_id}/{attachment_id}"
    return f"{path}/{quote(filename)}" if filename else path


def internal_number(article: ReplicaArticle) -> int:
    """The site's internal numeric id (`data-id`), which is not the T-id."""
    return int(article.id[1:8]) + 147_311


def date_text(article: ReplicaArticle) -> str:
    return article.published_at.strftime("%d.%m.%Y")


def _paragraph_html(text: str) -> str:
    return _UNIT.sub(r"\1&nbsp;\2", escape(text, quote=False))


def article_body_html(article: ReplicaArticle) -> str:
    """The inner HTML of `#article-text` (also the rss2 description after its image)."""
    parts: list[str] = []
    paragraphs = list(article.paragraphs)
    i = 0
    while i < len(paragraphs):
        html = _paragraph_html(paragraphs[i])
        if i % 4 == 3 and i + 1 < len(paragraphs):
            html += "<br><br>" + _paragraph_html(paragraphs[i + 1])
            i += 1
        parts.append(f"<p>{html}</p>")
        i += 1
    parts.append("<p>&nbsp;</p>")
    parts.append(f'<div class="text co2_summary"><p>{escape(consumption_summary(article))}</p></div>')
    c = contact_for(article)
    parts.append(
        f"<p><strong>{escape(release_layout(article).contact_opener)}</strong><br>Corporate Communications<br>{escape(c.name)}<br>"
        f"{escape(c.title)}<br>Telephone: {c.phone}<br>Fax: {FAX}<br>"
        f'<a href="mailto:{c.email}">{c.email}</a></p>'
    )
    parts.append(f"<p><strong>{ABOUT_HEADING_EN}</strong><br>{escape(ABOUT_EN)}</p>")
    return "\n".join(parts)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<title>{escape(title)}</title><meta name="robots" content="index,follow">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>\n<body>\n'
        '<div id="cookie-layer" class="cookie-consent-layer" role="dialog"><p>This website uses cookies '
        'to give you the best possible experience.</p><button class="cookie-accept">Accept all</button>'
        '<button class="cookie-settings">Settings</button></div>\n'
        '<header class="page-header"><a class="logo" href="/global">BMW Group PressClub</a></header>\n'
        f"<main>\n{body}\n</main>\n<footer><p>BMW Group PressClub Global</p></footer>\n</body></html>\n"
    )


def listing_items_html(articles: list[ReplicaArticle]) -> str:
    """The `article.newsfeed` items of a listing (also what the AJAX list endpoints return)."""
    items = []
    for a in articles:
        tags = "".join(f'<div class="tag" data-tag-id="{t}">{escape(TOPICS[t])}</div>' for t in a.topics)
        items.append(
            f'<article data-id="{internal_number(a)}" data-category="{a.category}" class="newsfeed clear-after has-image">'
            f'<div class="image"><a href="{detail_path(a)}"><img src="/global/article/image/{a.id}" alt=""></a></div>'
            f'<div class="text"><div class="info"><h4><span class="date">{date_text(a)}</span> '
            f'<span class="category">{CATEGORIES[a.category]}</span></h4></div>'
            f'<h3><a href="{detail_path(a)}">{escape(a.title)}</a></h3>'
            f'<p class="serif">{escape(a.teaser)}</p><div class="tags">{tags}</div></div></article>'
        )
    return "\n".join(items)


def listing_page(articles: list[ReplicaArticle], title: str, more_url: str) -> str:
    """A full listing page with the first `LISTING_PAGE_SIZE` items and the lazy-load button."""
    button = (
        (f'<button id="lazy-load-button" data-url="{more_url}" data-offset="{LISTING_PAGE_SIZE}">Load more</button>')
        if len(articles) > LISTING_PAGE_SIZE
        else ""
    )
    items = listing_items_html(articles[:LISTING_PAGE_SIZE])
    return _page(title, f'<section class="newsfeed-list"><h1>{escape(title)}</h1>\n{items}\n</section>\n{button}')


def detail_page(article: ReplicaArticle) -> str:
    """The article detail page."""
    attachments = "".join(
        f'<li><a class="download" href="{attachment_path(article.id, att.attachment_id, att.filename)}">'
        f"{escape(att.filename or 'Press release (PDF)')}</a></li>"
        for att in article.attachments
    )
    c = contact_for(article)
    body = (
        '<div class="article-detail">'
        f'<div class="article-info"><span class="date">{date_text(article)}</span> '
        f'<span class="category">{CATEGORIES[article.category]}</span></div>\n'
        f'<h1>{escape(article.title)}</h1>\n<h2 class="teaser">{escape(article.teaser)}</h2>\n'
        f'<div id="article-text" class="text">\n{article_body_html(article)}\n</div>\n'
        f'<div class="press-contact"><h3>Press contact</h3><p>{escape(c.name)}<br>{escape(c.title)}<br>'
        f"Telephone: {c.phone}</p></div>\n"
        '<div class="other-pressclubs"><h3>This article in other PressClubs</h3><ul>'
        f'<li><a href="/deutschland/article/detail/{article.id[:-2]}DE">Germany</a></li></ul></div>\n'
        + (f'<div class="attachments"><h3>Attachments</h3><ul>{attachments}</ul></div>\n' if attachments else "")
        + f'<div class="media-material"><a href="/global/oneclick/download/{article.id}/attachment">Download all</a></div>'
        "</div>"
    )
    return _page(article.title, body)


def error_page(status: int, message: str) -> str:
    """The HTML error page (also served with 200 past the last feed page)."""
    return _page(f"Error {status}", f'<div class="error-page"><h1>{status}</h1><p>{escape(message)}</p></div>')
