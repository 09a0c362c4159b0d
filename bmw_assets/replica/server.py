"""The PressClub replica served by aiohttp on loopback.

`ReplicaServer` runs the app in a background thread with its own event loop (for
tests and the local profile); `ensure_replica_running` starts a detached
`python -m bmw_assets.replica serve` when nothing answers on a port.

Routes (all also under `/global` where the real site has them):
- `/global/article`, `/global/startpage/list?offset=N|page=N`, `/global/article/list/<topic>`,
  `/global/article/search/category:N` and `/tag:N` — listings (kind "listing");
- `/global/article/detail/<ID>[/<slug>]` — detail page ("detail");
- `/global/article/attachment/<ID>/<num>[/<file>]`, `/global/oneclick/download/<ID>/attachment`
  ("attachment", "oneclick");
- `/global/rss[2][/topic/<id>]?page=N` and the same without `/global` ("rss");
- `/robots.txt` ("robots"); admin under `/_replica/` ("admin", never faulted):
  POST publish?n=N, GET stats, POST faults (JSON), POST edit/<ID>, GET truth/<ID>.

Faults (see `Faults`) are drawn per URL: the n-th request of a path gets the same fault
whatever else runs at the time, and `ReplicaServer.fault_log` lists what each request got.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from aiohttp import web

from bmw_assets.atomic import write_json_atomic
from bmw_assets.replica.corpus import REPLICA_SIZE, TOPICS, ReplicaArticle, build_corpus, revise
from bmw_assets.replica.faults import (
    FaultEvent,
    Faults,
    choose_fault,
    control_char_in_an_item,
    corrupt_bytes,
    damage_last_page,
    deflate_bomb_pdf,
    document_fault,
    request_delay,
)
from bmw_assets.replica.feeds import feed_page_count, render_feed
from bmw_assets.replica.pages import (
    LISTING_PAGE_SIZE,
    detail_page,
    error_page,
    listing_items_html,
    listing_page,
)
from bmw_assets.replica.pdf_shapes import PdfShapeRates, with_pdf_shapes

log = logging.getLogger(__name__)

DEFAULT_PORT = 8765
DEFAULT_UNPUBLISHED = 40
FAULT_LOG_SIZE = 100_000  # requests remembered in the fault log
STATE_FILE_NAME = "replica_state.json"
PID_FILE_NAME = "replica.pid"  # written by `serve --state-dir`
ROBOTS_TXT = (
    "User-agent: *\nAllow: /global/\nDisallow: /global/search/\nDisallow: /global/article/search/\n"
    "Disallow: /_replica/\nCrawl-delay: 1\n"
)


class ReplicaState:
    """Corpus, published count, revisions, faults and request counts; thread-safe."""

    def __init__(
        self, corpus: list[ReplicaArticle], published: int | None, faults: Faults | None, state_file: Path | None
    ):
        self._lock = threading.Lock()
        self.corpus = corpus
        self.faults = faults or Faults()
        self.state_file = Path(state_file) if state_file else None
        self.revisions: dict[str, int] = {}
        saved = self._load()
        if published is None:
            published = saved.get("published", len(corpus) - DEFAULT_UNPUBLISHED)
        if not 0 <= published <= len(corpus):
            raise ValueError(f"published={published} is out of range; use 0..{len(corpus)}")
        self.published = published
        self.stats: collections.Counter[str] = collections.Counter()
        self.request_counter = 0
        self._requests_by_path: collections.Counter[str] = collections.Counter()
        self.fault_log: collections.deque[FaultEvent] = collections.deque(maxlen=FAULT_LOG_SIZE)
        self._save()

    def _load(self) -> dict:
        if self.state_file is None or not self.state_file.exists():
            return {}
        saved = json.loads(self.state_file.read_text())
        self.revisions = {k: int(v) for k, v in saved.get("revisions", {}).items()}
        return saved

    def _save(self) -> None:
        if self.state_file is not None:
            write_json_atomic(self.state_file, {"published": self.published, "revisions": self.revisions})

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        return {a.id: i for i, a in enumerate(self.corpus)}

    def current(self, article: ReplicaArticle) -> ReplicaArticle:
        for _ in range(self.revisions.get(article.id, 1) - 1):
            article = revise(article)
        return article

    def visible(self) -> list[ReplicaArticle]:
        """Published articles, newest first, at their current revision."""
        return [self.current(a) for a in reversed(self.corpus[: self.published])]

    def get(self, article_id: str) -> ReplicaArticle | None:
        index = self._index.get(article_id)
        if index is None or index >= self.published:
            return None
        return self.current(self.corpus[index])

    def publish(self, n: int) -> list[str]:
        with self._lock:
            new = self.corpus[self.published : self.published + max(0, n)]
            self.published += len(new)
            self._save()
        return [a.id for a in reversed(new)]

    def edit(self, article_id: str) -> int:
        if self.get(article_id) is None:
            raise KeyError(article_id)
        with self._lock:
            self.revisions[article_id] = self.revisions.get(article_id, 1) + 1
            self._save()
            return self.revisions[article_id]

    def note(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def count(self, kind: str, path: str) -> str:
        """Count a request; returns its fault key "<path>#<n>" (the n-th request of `path`)."""
        with self._lock:
            self.stats[kind] += 1
            self.request_counter += 1
            self._requests_by_path[path] += 1
            return f"{path}#{self._requests_by_path[path]}"


@functools.lru_cache(maxsize=256)
def _pdf_bytes(article: ReplicaArticle) -> bytes:
    from bmw_assets.replica.pdf_shapes import render_shaped_pdf

    return render_shaped_pdf(article)


@functools.lru_cache(maxsize=16)
def _huge_pdf_bytes(article: ReplicaArticle, size: int) -> bytes:
    from bmw_assets.replica.pdf import pad_pdf

    return pad_pdf(_pdf_bytes(article), size, seed=len(article.id))


@functools.lru_cache(maxsize=16)
def _slow_pdf_bytes(article: ReplicaArticle) -> bytes:
    from bmw_assets.replica.pdf import render_slow_pdf

    return render_slow_pdf(article)


def _attachment_pdf(article: ReplicaArticle, attachment_id: int, faults: Faults) -> bytes:
    """The PDF served for an attachment: the press PDF, or a huge or slow one where `faults` says so."""
    kind = document_fault(faults, attachment_id)
    if kind == "huge":
        return _huge_pdf_bytes(article, faults.huge_pdf_bytes)
    if kind == "slow":
        return _slow_pdf_bytes(article)
    if kind == "bomb":
        return _bomb_pdf_bytes(faults.bomb_inflated_bytes)
    if kind == "damaged":
        return damage_last_page(_pdf_bytes(article))
    return _pdf_bytes(article)


@functools.lru_cache(maxsize=2)
def _bomb_pdf_bytes(inflated_bytes: int) -> bytes:
    return deflate_bomb_pdf(inflated_bytes)


@functools.lru_cache(maxsize=64)
def _other_bytes(filename: str, attachment_id: int) -> bytes:
    if filename.endswith(".zip"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            info = zipfile.ZipInfo("README.txt", date_time=(2024, 1, 1, 0, 0, 0))
            archive.writestr(info, f"Photo package {attachment_id}: images are distributed separately.\n")
        return buffer.getvalue()
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), ((attachment_id * 37) % 256, 90, 160)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def _page_param(request: web.Request) -> int:
    try:
        return max(1, int(request.query.get("page", "1")))
    except ValueError:
        return 1


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


async def robots(request: web.Request) -> web.Response:
    return web.Response(text=ROBOTS_TXT, content_type="text/plain")


def _unknown_topic(topic: str) -> bool:
    return not topic.isdigit() or int(topic) not in TOPICS


class FeedHandlers:
    """The RSS feeds: `rss` (summaries) and `rss2` (full bodies), all articles or one topic's, paged."""

    def __init__(self, state: ReplicaState) -> None:
        self.state = state

    async def summaries(self, request: web.Request) -> web.Response:
        return self._feed(request, full_body=False)

    async def full_bodies(self, request: web.Request) -> web.Response:
        return self._feed(request, full_body=True)

    def _feed(self, request: web.Request, full_body: bool) -> web.Response:
        topic = request.match_info.get("topic")
        articles = self.state.visible()
        if topic is not None:
            if _unknown_topic(topic):
                return _html(error_page(404, f"Unknown topic {topic}"), 404)
            articles = [a for a in articles if int(topic) in a.topics]
        page = _page_param(request)
        if page > feed_page_count(len(articles)):
            # The real site answers past the last page with an HTML page, not XML.
            return _html(error_page(404, "The requested page could not be found."))
        xml = render_feed(
            articles, origin=_origin(request), full_body=full_body, topic=int(topic) if topic else None, page=page
        )
        return web.Response(text=xml, content_type="application/rss+xml", charset="utf-8")


class ListingHandlers:
    """The listing pages: the start page, its AJAX slices, per topic, and search by category or tag."""

    def __init__(self, state: ReplicaState) -> None:
        self.state = state

    async def start(self, request: web.Request) -> web.Response:
        return _html(listing_page(self.state.visible(), "Latest press releases", "/global/startpage/list"))

    async def startpage_slice(self, request: web.Request) -> web.Response:
        return self._slice(request, self.state.visible())

    async def topic_slice(self, request: web.Request) -> web.Response:
        topic = request.match_info["topic"]
        if _unknown_topic(topic):
            return _html(error_page(404, f"Unknown topic {topic}"), 404)
        return self._slice(request, [a for a in self.state.visible() if int(topic) in a.topics])

    async def search(self, request: web.Request) -> web.Response:
        field, _, value = request.match_info["query"].partition(":")
        if field not in ("category", "tag") or not value.isdigit():
            return _html(error_page(404, "Use category:N or tag:N"), 404)
        articles = [
            a
            for a in self.state.visible()
            if (a.category if field == "category" else None) == int(value)
            or (field == "tag" and int(value) in a.topics)
        ]
        return _html(listing_page(articles, f"Search {field}:{value}", f"/global/article/search/{field}:{value}"))

    @staticmethod
    def _slice(request: web.Request, articles: list[ReplicaArticle]) -> web.Response:
        try:
            if "offset" in request.query:
                offset = max(0, int(request.query["offset"]))
            else:
                offset = (_page_param(request) - 1) * LISTING_PAGE_SIZE
        except ValueError:
            return _html(error_page(400, "offset must be a whole number"), 400)
        return _html(listing_items_html(articles[offset : offset + LISTING_PAGE_SIZE]))


class ArticleHandlers:
    """One article: its detail page, one attachment, and the one-click ZIP of all of them."""

    def __init__(self, state: ReplicaState) -> None:
        self.state = state

    async def detail(self, request: web.Request) -> web.Response:
        return _html(detail_page(self._article_or_404(request)))

    async def attachment(self, request: web.Request) -> web.StreamResponse:
        article = self._article_or_404(request)
        match = [a for a in article.attachments if str(a.attachment_id) == request.match_info["num"]]
        if not match:
            raise web.HTTPNotFound(text=error_page(404, "Attachment not found"), content_type="text/html")
        att = match[0]
        if att.kind == "pdf":
            body, ctype = _attachment_pdf(article, att.attachment_id, self.state.faults), "application/pdf"
        else:
            body = _other_bytes(att.filename or "file.jpg", att.attachment_id)
            ctype = "application/zip" if (att.filename or "").endswith(".zip") else "image/jpeg"
        name = att.filename or f"{article.id}_{att.attachment_id}.{'pdf' if att.kind == 'pdf' else 'bin'}"
        return web.Response(
            body=body, content_type=ctype, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    async def oneclick(self, request: web.Request) -> web.Response:
        article = self._article_or_404(request)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for att in article.attachments:
                data = (
                    _pdf_bytes(article)
                    if att.kind == "pdf"
                    else _other_bytes(att.filename or "x.jpg", att.attachment_id)
                )
                info = zipfile.ZipInfo(att.filename or f"{att.attachment_id}.pdf", date_time=(2024, 1, 1, 0, 0, 0))
                archive.writestr(info, data)
        return web.Response(body=buffer.getvalue(), content_type="application/zip")

    def _article_or_404(self, request: web.Request) -> ReplicaArticle:
        article = self.state.get(request.match_info["id"])
        if article is None:
            raise web.HTTPNotFound(text=error_page(404, "Article not found"), content_type="text/html")
        return article


class AdminHandlers:
    """The replica's own controls under /_replica/ (never faulted): publish, stats, faults, edit, truth."""

    def __init__(self, state: ReplicaState) -> None:
        self.state = state

    async def publish(self, request: web.Request) -> web.Response:
        try:
            n = int(request.query.get("n", "1"))
        except ValueError:
            return web.json_response({"error": "n must be a whole number"}, status=400)
        ids = self.state.publish(n)
        return web.json_response({"published": ids, "count": self.state.published, "total": len(self.state.corpus)})

    async def stats(self, request: web.Request) -> web.Response:
        state = self.state
        return web.json_response(
            {
                "requests": dict(state.stats),
                "published": state.published,
                "total": len(state.corpus),
                "faults": dataclasses.asdict(state.faults),
            }
        )

    async def faults(self, request: web.Request) -> web.Response:
        try:
            self.state.faults.update(await request.json() if request.can_read_body else {})
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(dataclasses.asdict(self.state.faults))

    async def edit(self, request: web.Request) -> web.Response:
        try:
            revision = self.state.edit(request.match_info["id"])
        except KeyError:
            return web.json_response({"error": f"no published article {request.match_info['id']}"}, status=404)
        return web.json_response({"id": request.match_info["id"], "revision": revision})

    async def truth(self, request: web.Request) -> web.Response:
        index = self.state._index.get(request.match_info["id"])
        if index is None:
            return web.json_response({"error": f"no article {request.match_info['id']}"}, status=404)
        a = self.state.current(self.state.corpus[index])
        return web.json_response(
            {
                "id": a.id,
                "title": a.title,
                "revision": a.revision,
                "body": a.body_text,
                "pdf_shape": a.pdf_shape,
                "facts": [{"question": f.question, "answer": f.answer} for f in a.facts],
            }
        )


def build_app(state: ReplicaState) -> web.Application:
    """The aiohttp application serving `state`. A route's name up to ':' is its kind (route_kind),
    which the fault middleware and the request stats go by."""
    feeds, listings = FeedHandlers(state), ListingHandlers(state)
    articles, admin = ArticleHandlers(state), AdminHandlers(state)
    routes = [web.get("/robots.txt", robots, name="robots")]
    # The atom "next" links leave out /global, so the feeds answer there too.
    for prefix, alias in (("/global", "site"), ("", "bare")):
        for name, handler in (("rss", feeds.summaries), ("rss2", feeds.full_bodies)):
            routes += [
                web.get(f"{prefix}/{name}", handler, name=f"rss:{alias}-{name}"),
                web.get(f"{prefix}/{name}/topic/{{topic}}", handler, name=f"rss:{alias}-{name}-topic"),
            ]
    routes += [
        web.get("/global/article", listings.start, name="listing:start"),
        web.get("/global/startpage/list", listings.startpage_slice, name="listing:ajax"),
        web.get("/global/article/list/{topic}", listings.topic_slice, name="listing:topic"),
        web.get("/global/article/search/{query}", listings.search, name="listing:search"),
        web.get("/global/article/detail/{id}", articles.detail, name="detail"),
        web.get("/global/article/detail/{id}/{slug:.*}", articles.detail, name="detail:slug"),
        web.get("/global/article/attachment/{id}/{num:\\d+}", articles.attachment, name="attachment"),
        web.get(
            "/global/article/attachment/{id}/{num:\\d+}/{filename:.*}", articles.attachment, name="attachment:named"
        ),
        web.get("/global/oneclick/download/{id}/attachment", articles.oneclick, name="oneclick"),
        web.post("/_replica/publish", admin.publish, name="admin:publish"),
        web.get("/_replica/stats", admin.stats, name="admin:stats"),
        web.post("/_replica/faults", admin.faults, name="admin:faults"),
        web.post("/_replica/edit/{id}", admin.edit, name="admin:edit"),
        web.get("/_replica/truth/{id}", admin.truth, name="admin:truth"),
    ]
    app = web.Application(middlewares=[_fault_middleware(state)])
    app.add_routes(routes)
    return app


def route_kind(request: web.Request) -> str:
    """The stats bucket of a request: the route name up to ':' ("rss", "detail", ...)."""
    route = request.match_info.route
    name = getattr(route, "name", None)
    return name.split(":")[0] if name else "not_found"


def _fault_middleware(state: ReplicaState):
    @web.middleware
    async def middleware(request: web.Request, handler) -> web.StreamResponse:
        kind = route_kind(request)
        counter = state.count(kind, request.path_qs)
        if kind == "admin":
            return await handler(request)
        faults = state.faults
        delay = request_delay(faults, counter)
        is_attachment = kind in ("attachment", "oneclick")
        # robots.txt is spared content faults: a broken robots file would block a polite client.
        fault = (
            None
            if kind == "robots"
            else choose_fault(
                faults,
                counter,
                attachment=is_attachment,
                document=kind in ("rss", "detail", "listing"),
                feed=kind == "rss",
                later_feed_page=kind == "rss" and _page_param(request) > 1,
            )
        )
        if fault == "throttle" and faults.throttle_route and kind != faults.throttle_route:
            fault = None
        # Logged before the delay: a client that gives up while waiting cancels this handler.
        state.fault_log.append(FaultEvent(request.path_qs, fault, delay))
        if fault:
            state.note(f"fault:{fault}")
        if delay > 0:
            await asyncio.sleep(delay)
        if fault == "reset":
            request.transport.abort() if request.transport else None
            raise asyncio.CancelledError  # nothing more is written on an aborted connection
        if fault == "error":
            return _html(error_page(503, "Service temporarily unavailable"), 503)
        if fault == "throttle":
            return web.Response(
                status=429, text="Too Many Requests", headers={"Retry-After": str(faults.retry_after_s)}
            )
        if fault == "feed_end":  # what the site answers past the last page
            return _html(error_page(404, "The requested page could not be found."))
        response = await handler(request)
        if fault is None or not isinstance(response, web.Response) or response.status != 200:
            return response
        body = response.body if isinstance(response.body, bytes) else b""
        if fault == "malformed":
            response.body = body[: len(body) // 2]
        elif fault == "corrupt":
            response.body = corrupt_bytes(body, counter)
        elif fault == "non_pdf":
            response.body = error_page(403, "Access denied").encode()
        elif fault == "control_char":
            response.body = control_char_in_an_item(body, counter, faults.feed_control_char_hides_id)
        elif fault == "drip":  # the whole body, one byte every drip_interval_s
            stream = web.StreamResponse(headers={"Content-Type": response.content_type})
            stream.content_length = len(body)
            await stream.prepare(request)
            for offset in range(len(body)):
                await stream.write(body[offset : offset + 1])
                await asyncio.sleep(faults.drip_interval_s)
            return stream
        elif fault == "truncated":
            stream = web.StreamResponse(headers={"Content-Type": response.content_type})
            stream.content_length = len(body)
            await stream.prepare(request)
            await stream.write(body[: len(body) // 2])
            request.transport.abort() if request.transport else None
            raise asyncio.CancelledError
        return response

    return middleware


class ReplicaServer:
    """The replica on loopback in a background thread; use as a context manager.

    `port=0` picks a free port. `published` (default: all but the newest 40, or what
    `state_file` remembers) sets how many of the oldest articles are visible. `pdf_shapes`
    (default: the real rates) sets how many first PDFs are the wrong language, garbled or
    only a table (`NO_PDF_SHAPES`: none).
    """

    def __init__(
        self,
        port: int = 0,
        published: int | None = None,
        faults: Faults | None = None,
        state_file: Path | None = None,
        seed: int = 2026,
        size: int = REPLICA_SIZE,
        host: str = "127.0.0.1",
        pdf_shapes: PdfShapeRates = PdfShapeRates(),
    ):
        self.host, self._requested_port = host, port
        self.state = ReplicaState(with_pdf_shapes(build_corpus(seed, size), pdf_shapes), published, faults, state_file)
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/global"

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self.state.faults = value

    @property
    def stats(self) -> dict[str, int]:
        """Request counts by route kind (a copy)."""
        return dict(self.state.stats)

    def reset_stats(self) -> None:
        self.state.stats.clear()

    @property
    def fault_log(self) -> list[FaultEvent]:
        """What each request got (path with query, fault or None, delay), oldest first; admin requests left out."""
        return list(self.state.fault_log)

    @property
    def published_count(self) -> int:
        return self.state.published

    def visible_articles(self) -> list[ReplicaArticle]:
        """Published articles, newest first, at their current revision."""
        return self.state.visible()

    def publish(self, n: int) -> list[str]:
        """Reveal the next `n` articles; returns their ids, newest first."""
        return self.state.publish(n)

    def edit(self, article_id: str) -> int:
        """Bump an article's revision (its body changes slightly); returns the new revision."""
        return self.state.edit(article_id)

    def start(self) -> ReplicaServer:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            try:
                self._runner = web.AppRunner(build_app(self.state), access_log=None, handler_cancellation=True)
                self._loop.run_until_complete(self._runner.setup())
                site = web.TCPSite(self._runner, self.host, self._requested_port)
                self._loop.run_until_complete(site.start())
                self.port = self._runner.addresses[0][1]
            except BaseException as exc:  # reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="replica-server", daemon=True)
        self._thread.start()
        ready.wait(30)
        if errors:
            raise RuntimeError(f"replica could not listen on {self.host}:{self._requested_port}: {errors[0]}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None

    def __enter__(self) -> ReplicaServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_replica/stats", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def ensure_replica_running(
    port: int = DEFAULT_PORT, state_dir: Path | None = None, timeout_s: float = 10.0, size: int = REPLICA_SIZE
) -> str:
    """Return the replica's base_url on `port`, starting a detached
    `python -m bmw_assets.replica serve` of a `size`-article corpus (state kept in `state_dir`)
    if nothing answers."""
    base_url = f"http://127.0.0.1:{port}/global"
    if _answers(port):
        return base_url
    state_dir = Path(state_dir or Path.cwd() / "storage" / "replica")
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "replica.log"
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bmw_assets.replica",
                "serve",
                "--port",
                str(port),
                "--state-dir",
                str(state_dir),
                "--size",
                str(size),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _answers(port) and (state_dir / PID_FILE_NAME).is_file():  # recorded: it can be stopped
            return base_url
        if process.poll() is not None:
            break
        time.sleep(0.1)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(
        f"the PressClub replica did not answer on 127.0.0.1:{port} within {timeout_s:.0f} s "
        f"(process {'exited with ' + str(process.returncode) if process.poll() is not None else 'still starting'}); "
        f"log {log_path}:\n{tail}"
    )
