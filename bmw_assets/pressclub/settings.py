"""How the PressClub client behaves on the wire: where, how fast, how patiently."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bmw_assets.pressclub.address_guard import DEFAULT_PORTS

PRODUCTION_BASE_URL = "https://www.press.bmwgroup.com/global"
DEFAULT_USER_AGENT = "bmw-assets-pressclub/0.1 (+research crawler; obeys robots.txt)"


@dataclass(frozen=True)
class ClientSettings:
    """Politeness and safety settings of the client.

    base_url: the PressClub root including the `/global` path.
    allowed_hosts: the only hosts the client talks to, each as `host` or `host:port`; a link or redirect
        is followed only on the base URL's scheme and on the host's port (the base URL's port for
        its own host, the scheme's default port for another host without one): see `allowed_origins`.
    max_connections: open connections at once, all hosts together.
    requests_per_second: token-bucket rate per host; robots.txt Crawl-delay lowers it further.
    max_retries: retries after the first attempt (5xx, 429, timeouts, resets).
    timeout_s: connect timeout and read timeout (between bytes), seconds each.
    obey_robots: read robots.txt per origin and never fetch a disallowed path.
    obey_crawl_delay: take robots.txt Crawl-delay / Request-rate as a floor on the request interval.
    max_download_bytes: an attachment larger than this is aborted mid-stream.
    body_deadline_s: seconds a response body may take from its headers to its last byte; past it
        the transfer is abandoned (an item that fails so is tried again on the next run).
    min_bytes_per_s, rate_grace_s: a body arriving slower than `min_bytes_per_s` on average, once
        `rate_grace_s` seconds have passed since its headers, is abandoned the same way (a slow drip).
    max_retry_after_s: the longest Retry-After (429/503) the client waits for; an item whose server
        asks for longer is deferred: not fetched and not failed, tried again on the next run.
    pdf_max_inflated_bytes: what the PDF checks inflate at most, per stream and per document together
        (a deflate bomb is refused instead of filling memory); pypdf's own limits are set to it too.
    allow_private_addresses: loopback/private/link-local addresses are refused unless True.
    """

    base_url: str
    allowed_hosts: frozenset[str]
    max_connections: int = 4
    requests_per_second: float = 4.0
    user_agent: str = DEFAULT_USER_AGENT
    max_retries: int = 5
    timeout_s: float = 30.0
    obey_robots: bool = True
    obey_crawl_delay: bool = True
    max_download_bytes: int = 64 * 1024 * 1024
    allow_private_addresses: bool = False
    backoff_base_s: float = 0.5
    backoff_max_s: float = 60.0
    max_redirects: int = 5
    pdf_parse_timeout_s: float = 30.0
    body_deadline_s: float = 600.0
    min_bytes_per_s: float = 16 * 1024
    rate_grace_s: float = 10.0
    max_retry_after_s: float = 300.0
    pdf_max_inflated_bytes: int = 64 * 1024 * 1024
    progress_every_items: int = 50
    progress_every_s: float = 10.0
    topics: tuple[int, ...] = field(default=(803, 4099, 4100, 5127, 5236, 5249, 5254, 4098, 6629, 6728, 7309, 10837))

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"base_url={self.base_url!r} must be an absolute http(s) URL such as {PRODUCTION_BASE_URL}"
            )
        if parts.hostname not in {entry.partition(":")[0] for entry in self.allowed_hosts}:
            raise ValueError(f"base_url host {parts.hostname!r} is not in allowed_hosts {sorted(self.allowed_hosts)}")
        if self.max_connections < 1 or self.requests_per_second <= 0:
            raise ValueError(
                f"max_connections={self.max_connections} and requests_per_second={self.requests_per_second} must be positive"
            )
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        object.__setattr__(self, "allowed_hosts", frozenset(self.allowed_hosts))

    @property
    def allowed_origins(self) -> frozenset[str]:
        """The `scheme://host:port` origins the client may fetch from (see `allowed_hosts`)."""
        base = urlsplit(self.base_url)
        default = DEFAULT_PORTS[base.scheme]
        origins = set()
        for entry in self.allowed_hosts:
            host, _, port = entry.lower().partition(":")
            port = port or str(base.port or default if host == base.hostname else default)
            origins.add(f"{base.scheme}://{host}:{port}")
        return frozenset(origins)

    @classmethod
    def production(cls) -> ClientSettings:
        """The real PressClub, politely: 4 connections, 4 requests/s, robots.txt obeyed, 5 retries."""
        return cls(
            base_url=PRODUCTION_BASE_URL,
            allowed_hosts=frozenset({"www.press.bmwgroup.com"}),
            max_connections=4,
            requests_per_second=4.0,
            max_retries=5,
            timeout_s=30.0,
            obey_robots=True,
        )

    @classmethod
    def local(cls, base_url: str) -> ClientSettings:
        """The replica on loopback: loopback allowed, 32 connections, 500 requests/s, short timeouts.

        robots.txt rules are obeyed, but not its Crawl-delay: the replica is the
        project's own server and copies the real site's delay, which would make a
        local run wait a second per request.
        """
        host = urlsplit(base_url).hostname or ""
        return cls(
            base_url=base_url,
            allowed_hosts=frozenset({host}),
            max_connections=32,
            requests_per_second=500.0,
            max_retries=5,
            timeout_s=10.0,
            obey_robots=True,
            obey_crawl_delay=False,
            allow_private_addresses=True,
            backoff_base_s=0.05,
            backoff_max_s=2.0,
        )
