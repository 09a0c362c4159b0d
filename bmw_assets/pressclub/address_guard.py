"""Which URLs the client may touch: allow-listed origins only, and no private addresses unless allowed.

An origin is scheme, host and port together (`https://www.press.bmwgroup.com:443`): another port
on an allowed host is another server and is refused. Checked on every request and every redirect
hop. Host names are checked again
after DNS resolution (`GuardedResolver`), so a public name that resolves to a
private address is refused too.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver


class RefusedUrl(Exception):
    """A URL the client will not fetch (off-site, private address, robots.txt); never retried."""

    def __init__(self, url: str, reason: str, rule: str) -> None:
        super().__init__(f"refused {url}: {reason}")
        self.url, self.reason, self.rule = url, reason, rule  # rule: scheme | host | origin | private_address | robots


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global or ip.is_multicast


DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """`scheme://host:port` of an http(s) URL, the port written out (`https://a.example:443`);
    raises ValueError for another scheme or an unreadable port."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError(f"scheme {parts.scheme!r} is not http or https")
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{parts.port or DEFAULT_PORTS[parts.scheme]}"


def check_url(url: str, allowed_origins: frozenset[str], allow_private_addresses: bool) -> None:
    """Raise RefusedUrl unless `url` is on one of `allowed_origins` (each as `origin_of` writes it:
    scheme, host and port must all match) and is not a private IP literal."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise RefusedUrl(url, f"scheme {parts.scheme!r} is not http or https", "scheme")
    host = (parts.hostname or "").lower()
    allowed_hosts = sorted({urlsplit(origin).hostname for origin in allowed_origins})
    if host not in allowed_hosts:
        raise RefusedUrl(url, f"host {host!r} is not one of the allowed hosts {allowed_hosts}", "host")
    try:
        origin = origin_of(url)
    except ValueError as error:  # a port that is no number
        raise RefusedUrl(url, str(error), "origin") from error
    if origin not in allowed_origins:
        raise RefusedUrl(
            url,
            f"{origin} is not one of the allowed origins {sorted(allowed_origins)} (scheme, host and port must match)",
            "origin",
        )
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return
    if not allow_private_addresses and _is_private(str(literal)):
        raise RefusedUrl(
            url, f"{host} is a private/loopback address (set allow_private_addresses to permit it)", "private_address"
        )


class GuardedResolver(ThreadedResolver):
    """System DNS resolution that refuses names resolving to private addresses when those are not allowed."""

    def __init__(self, allow_private_addresses: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._allow_private = allow_private_addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await super().resolve(host, port, family)
        if not self._allow_private:
            private = [r["host"] for r in results if _is_private(r["host"])]
            if private:
                raise RefusedUrl(host, f"{host} resolves to private address(es) {private}", "private_address")
        return results
