"""RSS feeds of the replica: `/rss` items carry the teaser, `/rss2` items the full body
as escaped HTML (an `<img>` first, then the detail page's `#article-text` markup).

Pages hold `FEED_PAGE_SIZE` items, newest first. Every page carries
`<atom:link rel="next">` whose href leaves out `/global`, as the real site does; past
the last page the server answers with an HTML page instead of XML.
"""

from __future__ import annotations

from email.utils import format_datetime
from xml.sax.saxutils import escape

from bmw_assets.replica.corpus import ReplicaArticle
from bmw_assets.replica.pages import article_body_html, detail_path

FEED_PAGE_SIZE = 20


def feed_page_count(total: int) -> int:
    return max(1, -(-total // FEED_PAGE_SIZE))


def render_feed(
    articles_newest_first: list[ReplicaArticle], *, origin: str, full_body: bool, topic: int | None, page: int
) -> str:
    """One feed page as RSS 2.0 XML. `origin` is "http://host:port"; `page` is 1-based."""
    name = "rss2" if full_body else "rss"
    path = f"/{name}/topic/{topic}" if topic is not None else f"/{name}"
    start = (page - 1) * FEED_PAGE_SIZE
    host = origin.split("://", 1)[1]
    items = []
    for a in articles_newest_first[start : start + FEED_PAGE_SIZE]:
        if full_body:
            description = f'<img src="{origin}/global/article/image/{a.id}" alt="" />' + article_body_html(a)
        else:
            description = a.teaser
        items.append(
            "<item>"
            f"<title>{escape(a.title)}</title>"
            f"<link>{escape(origin + detail_path(a))}</link>"
            f'<guid isPermaLink="false">{host}/{a.id}</guid>'
            f"<pubDate>{format_datetime(a.published_at)}</pubDate>"
            f"<description>{escape(description)}</description>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>\n'
        "<title>BMW Group PressClub Global</title>"
        f"<link>{origin}/global</link><description>Press releases of the BMW Group</description>"
        "<language>en</language>\n"
        f'<atom:link href="{origin}/global{path}?page={page}" rel="self" type="application/rss+xml" />\n'
        f'<atom:link href="{origin}{path}?page={page + 1}" rel="next" type="application/rss+xml" />\n'
        + "\n".join(items)
        + "\n</channel></rss>\n"
    )
