"""Pieces of the HTTP layer that need no server: pacing, Retry-After, URL guard, settings."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bmw_assets.pressclub import ClientSettings
from bmw_assets.pressclub.address_guard import RefusedUrl, check_url
from bmw_assets.pressclub.http_client import retry_after_seconds
from bmw_assets.pressclub.progress import ProgressReporter
from bmw_assets.pressclub.rate_limit import TokenBucket


def test_token_bucket_paces_to_its_rate_after_the_burst():
    async def take(bucket: TokenBucket, n: int) -> float:
        started = time.monotonic()
        for _ in range(n):
            await bucket.acquire()
        return time.monotonic() - started

    assert asyncio.run(take(TokenBucket(rate=50, capacity=5), 5)) < 0.05  # the burst is free
    assert 0.18 <= asyncio.run(take(TokenBucket(rate=50, capacity=1), 11)) < 0.5  # then 1/50 s apart
    slowed = TokenBucket(rate=1000, capacity=10)
    slowed.slow_to(20)  # a robots.txt Crawl-delay of 0.05 s
    assert asyncio.run(take(slowed, 5)) >= 0.19


def test_retry_after_in_seconds_or_as_http_date():
    assert retry_after_seconds("0.2") == 0.2 and retry_after_seconds("3") == 3.0
    in_ten = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    assert 8 <= retry_after_seconds(in_ten) <= 10
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://evil.example/global/rss2", "not one of the allowed hosts"),
        ("ftp://www.press.bmwgroup.com/x", "not http or https"),
        ("https://www.press.bmwgroup.com.evil.example/x", "not one of the allowed hosts"),
    ],
)
def test_url_guard_refuses_other_hosts_and_schemes(url, reason):
    with pytest.raises(RefusedUrl, match=reason):
        check_url(url, PRESSCLUB, allow_private_addresses=False)
    check_url("https://www.press.bmwgroup.com/global/rss2", PRESSCLUB, False)


PRESSCLUB = ClientSettings.production().allowed_origins


@pytest.mark.parametrize(
    "url",
    [
        "https://www.press.bmwgroup.com:8443/global/rss2",  # another port of the allowed host
        "http://www.press.bmwgroup.com/global/rss2",  # the allowed host over plain http
        "https://www.press.bmwgroup.com:x/global/rss2",  # a port that is no number
    ],
)
def test_url_guard_matches_scheme_host_and_port(url):
    assert PRESSCLUB == {"https://www.press.bmwgroup.com:443"}
    with pytest.raises(RefusedUrl) as refused:
        check_url(url, PRESSCLUB, allow_private_addresses=False)
    assert refused.value.rule == "origin"
    check_url("https://WWW.press.bmwgroup.com:443/global/rss2", PRESSCLUB, False)
    local = ClientSettings.local("http://127.0.0.1:8765/global")
    assert local.allowed_origins == {"http://127.0.0.1:8765"}
    with pytest.raises(RefusedUrl, match="allowed origins"):
        check_url("http://127.0.0.1:8766/global/rss2", local.allowed_origins, True)


def test_private_ip_literals_need_permission():
    hosts = frozenset({"http://127.0.0.1:8765", "http://10.1.2.3:80", "http://169.254.169.254:80"})
    for url in ("http://127.0.0.1:8765/global", "http://10.1.2.3/", "http://169.254.169.254/latest"):
        with pytest.raises(RefusedUrl, match="private/loopback"):
            check_url(url, hosts, allow_private_addresses=False)
        check_url(url, hosts, allow_private_addresses=True)


def test_profiles_state_their_politeness_and_reject_bad_settings():
    production = ClientSettings.production()
    assert production.base_url == "https://www.press.bmwgroup.com/global"
    assert production.allowed_hosts == {"www.press.bmwgroup.com"}
    assert (production.max_connections, production.requests_per_second) == (4, 4.0)
    assert production.obey_robots and production.obey_crawl_delay and not production.allow_private_addresses
    local = ClientSettings.local("http://127.0.0.1:8765/global/")
    assert local.base_url == "http://127.0.0.1:8765/global" and local.allow_private_addresses
    with pytest.raises(ValueError, match="not in allowed_hosts"):
        ClientSettings(base_url="https://example.com/global", allowed_hosts=frozenset({"www.press.bmwgroup.com"}))


def test_progress_reports_counts_rate_and_eta():
    messages: list[str] = []
    reporter = ProgressReporter("articles", 10, messages.append, every_items=4, every_s=3600)
    for _ in range(10):
        reporter.advance()
    reporter.finish()
    assert len(messages) == 3  # after 4 and 8 items, and the final one
    assert messages[0].startswith("articles: 4/10 (") and "/s" in messages[0] and "ETA" in messages[0]
    assert messages[-1].startswith("articles: 10/10")
