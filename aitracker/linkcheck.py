"""The link checker: is every published source's address still reachable, and where does it lead?

One pass (`check_sources`) takes the published sources, checks each distinct address once and records the
outcome on every source that cites it (`services.source_link_check_record`). It is polite and bounded:

- a thread pool of AITRACKER_LINKCHECK_WORKERS (8) checks addresses in parallel, grouped by host so that one
  worker walks one host's addresses in turn;
- a host is never asked twice within AITRACKER_LINKCHECK_HOST_DELAY seconds (1 s), whichever worker asks, the
  robots.txt and every redirect included (`HostThrottle`);
- connect and read timeouts (AITRACKER_LINKCHECK_TIMEOUT, 10 s); at most 64 KiB of a body is read;
- redirects are followed by hand (at most 10), a loop is recognised and recorded as broken;
- robots.txt is read once per host per pass (`urllib.robotparser`); an address it forbids to our User-Agent
  is recorded as "blocked", not fetched;
- HEAD first, then GET when a server refuses or mishandles HEAD (405, 501, 403, 400);
- an honest User-Agent naming the site's methodology page.

The standard library only (http.client): nothing here needs more, and the redirect and body limits are then
ours to set exactly.
"""

import http.client
import logging
import socket
import ssl
import threading
import time
import urllib.robotparser
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.urls import reverse

from .links import absolute_url
from .models import LinkStatus, Source

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 10
MAX_BODY_BYTES = 64 * 1024
ROBOTS_MAX_BYTES = 512 * 1024
REDIRECT_CODES = {301, 302, 303, 307, 308}
# Servers that answer HEAD wrongly: these get a GET before the address is called broken.
HEAD_REFUSED = {400, 403, 404, 405, 501}


def user_agent() -> str:
    return f"aitracker-linkcheck/1.0 (+{absolute_url(reverse('methodology'))})"


@dataclass(frozen=True)
class LinkResult:
    status: str
    http_status: int | None = None
    final_url: str = ""
    error: str = ""
    redirects: tuple = ()

    @property
    def failed(self) -> bool:
        return self.status == LinkStatus.BROKEN


def host_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class HostThrottle:
    """At most one request per host every `delay` seconds, across threads. `log` keeps (host, time) of every
    request when given a list (the tests read it to measure the spacing)."""

    def __init__(self, delay: float, log: list | None = None):
        self.delay = delay
        self.log = log
        self._guard = threading.Lock()
        self._locks = defaultdict(threading.Lock)
        self._next = {}

    def wait(self, host: str) -> None:
        with self._guard:
            lock = self._locks[host]
        with lock:
            now = time.monotonic()
            ready = self._next.get(host, now)
            if ready > now:
                time.sleep(ready - now)
                now = time.monotonic()
            self._next[host] = now + self.delay
            if self.log is not None:
                with self._guard:
                    self.log.append((host, now))


@dataclass
class Checker:
    """One pass's state: the throttle and the robots.txt of every host seen, shared by the pool's threads."""

    timeout: float = 10.0
    host_delay: float = 1.0
    agent: str = ""
    request_log: list | None = None
    throttle: HostThrottle = field(init=False)
    _robots: dict = field(init=False, default_factory=dict)
    _robots_lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _unreachable: dict = field(init=False, default_factory=dict)
    _active: int = field(init=False, default=0)
    max_active: int = field(init=False, default=0)

    def __post_init__(self):
        self.agent = self.agent or user_agent()
        self.throttle = HostThrottle(self.host_delay, self.request_log)
        # One TLS context for the pass: loading the certificate store costs ~0.2 s of CPU each time.
        self.tls_context = ssl.create_default_context()

    # --- one HTTP request ---

    def request(self, method: str, url: str, *, max_body: int = MAX_BODY_BYTES):
        """(status, headers, body) of one request, no redirect followed; raises OSError on network failure."""
        parts = urlsplit(url)
        self.throttle.wait(host_key(url))
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=self.timeout, context=self.tls_context
            )
        else:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        with self._robots_lock:
            self._active += 1
            self.max_active = max(self.max_active, self._active)
        try:
            connection.request(method, path, headers={"User-Agent": self.agent, "Accept": "*/*"})
            response = connection.getresponse()
            body = b"" if method == "HEAD" else response.read(max_body)
            return response.status, response.headers, body
        finally:
            connection.close()
            with self._robots_lock:
                self._active -= 1

    # --- robots.txt ---

    def robots(self, url: str) -> urllib.robotparser.RobotFileParser:
        """The host's robots.txt, read once per pass (the first thread to need it reads it; the others wait)."""
        key = host_key(url)
        with self._robots_lock:
            entry = self._robots.setdefault(key, [threading.Lock(), None])
        with entry[0]:
            if entry[1] is None:
                entry[1] = self._read_robots(key)
            return entry[1]

    def _read_robots(self, key: str) -> urllib.robotparser.RobotFileParser:
        """As urllib.robotparser.read() decides: 401/403 forbid everything, any other 4xx allows everything; a
        robots.txt that cannot be read (timeout, 5xx) allows, and the address's own check then says why."""
        parser = urllib.robotparser.RobotFileParser()
        url = key + "/robots.txt"
        try:
            for _hop in range(5):
                status, headers, body = self.request("GET", url, max_body=ROBOTS_MAX_BYTES)
                if status in REDIRECT_CODES and headers.get("Location"):
                    url = urljoin(url, headers["Location"])
                    if not url.startswith(("http://", "https://")):
                        break
                    continue
                break
        except (socket.gaierror, ConnectionRefusedError) as error:
            # No such host, or nothing listening: every address on it would fail the same way, so they are
            # recorded with this reason without asking again (and without waiting the host's delay for it).
            self._unreachable[key] = str(error) or type(error).__name__
            parser.allow_all = True
            return parser
        except (OSError, http.client.HTTPException, ValueError):
            parser.allow_all = True
            return parser
        if status in (401, 403):
            parser.disallow_all = True
        elif status >= 400 or status in REDIRECT_CODES:
            parser.allow_all = True
        else:
            parser.parse(body.decode("utf-8", errors="replace").splitlines())
        return parser

    # --- one address ---

    def check(self, url: str) -> LinkResult:
        try:
            return self._check(url)
        except Exception as error:  # whatever a server does, the pass goes on and says what happened
            logger.warning("link check of %s failed unexpectedly", url, exc_info=True)
            return LinkResult(LinkStatus.BROKEN, error=f"{type(error).__name__}: {error}"[:300])

    def _check(self, url: str) -> LinkResult:
        seen = [url]
        current = url
        while True:
            if not current.startswith(("http://", "https://")):
                return LinkResult(
                    LinkStatus.BROKEN, final_url=current, error="not a web address", redirects=tuple(seen)
                )
            robots = self.robots(current)
            if unreachable := self._unreachable.get(host_key(current)):
                return LinkResult(LinkStatus.BROKEN, final_url=current, error=unreachable[:300], redirects=tuple(seen))
            if not robots.can_fetch(self.agent, current):
                return LinkResult(LinkStatus.BLOCKED, final_url=current, error="robots.txt", redirects=tuple(seen))
            try:
                status, headers = self._fetch(current)
            except TimeoutError:
                return LinkResult(LinkStatus.BROKEN, final_url=current, error="timed out", redirects=tuple(seen))
            except (OSError, http.client.HTTPException, ValueError) as error:
                reason = str(error) or type(error).__name__
                return LinkResult(LinkStatus.BROKEN, final_url=current, error=reason[:300], redirects=tuple(seen))
            if status in REDIRECT_CODES and headers.get("Location"):
                following = urljoin(current, headers["Location"].strip())
                if following in seen:
                    return LinkResult(
                        LinkStatus.BROKEN, status, following, error="redirect loop", redirects=tuple(seen)
                    )
                if len(seen) > MAX_REDIRECTS:
                    return LinkResult(
                        LinkStatus.BROKEN, status, following, error="too many redirects", redirects=tuple(seen)
                    )
                seen.append(following)
                current = following
                continue
            if 200 <= status < 300:
                kind = LinkStatus.OK if len(seen) == 1 else LinkStatus.REDIRECTED
                return LinkResult(kind, status, current, redirects=tuple(seen))
            return LinkResult(LinkStatus.BROKEN, status, current, error=f"HTTP {status}", redirects=tuple(seen))

    def _fetch(self, url: str):
        """HEAD, then GET if the server refuses HEAD; (status, headers)."""
        status, headers, _body = self.request("HEAD", url)
        if status in HEAD_REFUSED or status >= 500:
            status, headers, _body = self.request("GET", url)
        return status, headers

    # --- many addresses ---

    def check_many(self, urls, *, workers: int = 8) -> dict[str, LinkResult]:
        """{url: result}; each host's addresses in turn on one worker, hosts in parallel."""
        by_host = defaultdict(list)
        for url in dict.fromkeys(urls):
            by_host[host_key(url)].append(url)
        results = {}
        lock = threading.Lock()

        def walk(host_urls):
            for url in host_urls:
                result = self.check(url)
                with lock:
                    results[url] = result

        # The hosts with the most addresses first: the longest walks start at once, and the pass ends sooner.
        walks = sorted(by_host.values(), key=len, reverse=True)
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="linkcheck") as pool:
            for future in [pool.submit(walk, host_urls) for host_urls in walks]:
                future.result()
        return results


def make_checker(**kwargs) -> Checker:
    options = {"timeout": settings.AITRACKER_LINKCHECK_TIMEOUT, "host_delay": settings.AITRACKER_LINKCHECK_HOST_DELAY}
    return Checker(**(options | kwargs))


# A pass over at least this many addresses in which not one server answered (every one failed before any HTTP
# status: no name resolved, no connection made) says that the checker's own network is down, not that every
# source died: it records nothing, so that no page says "this link may be broken" of every source.
OFFLINE_MIN_ADDRESSES = 10


@dataclass
class PassReport:
    sources: int = 0
    addresses: int = 0
    seconds: float = 0.0
    by_status: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    offline: bool = False

    def lines(self) -> list[str]:
        out = [
            f"checked {self.addresses} addresses of {self.sources} published sources in {self.seconds:.1f} s",
            *(f"  {status}: {count}" for status, count in sorted(self.by_status.items())),
        ]
        if self.offline:
            out.insert(
                0,
                "no server answered at all: the checker's network seems to be down; nothing was recorded",
            )
        if self.errors:
            out.append("  most frequent reasons:")
            top = sorted(self.errors.items(), key=lambda item: -item[1])[:5]
            out += [f"    {count}x {reason}" for reason, count in top]
        return out


def check_sources(sources=None, *, checker: Checker | None = None, workers: int | None = None) -> PassReport:
    """Check these sources (default: every published one) and record what was found."""
    from . import services

    started = time.monotonic()
    sources = Source.objects.public() if sources is None else sources
    ids_by_url = defaultdict(list)
    for pk, url in sources.order_by("pk").values_list("pk", "url"):
        ids_by_url[url].append(pk)
    checker = checker or make_checker()
    results = checker.check_many(list(ids_by_url), workers=workers or settings.AITRACKER_LINKCHECK_WORKERS)
    report = PassReport(sources=sum(len(ids) for ids in ids_by_url.values()), addresses=len(ids_by_url))
    report.offline = len(results) >= OFFLINE_MIN_ADDRESSES and all(
        result.failed and result.http_status is None for result in results.values()
    )
    for url, result in results.items():
        report.by_status[result.status] = report.by_status.get(result.status, 0) + 1
        if result.error:
            report.errors[result.error] = report.errors.get(result.error, 0) + 1
        if report.offline:
            continue
        services.source_link_check_record(
            source_ids=ids_by_url[url],
            status=result.status,
            http_status=result.http_status,
            final_url=result.final_url if result.final_url != url else "",
            error=result.error,
        )
    report.seconds = time.monotonic() - started
    return report


# --- Web archive -----------------------------------------------------------------------------------------


def request_archive(url: str, *, checker: Checker | None = None) -> str:
    """Ask the configured archive (AITRACKER_ARCHIVE_SUBMIT_URL, e.g. https://web.archive.org/save/) to keep a
    copy of `url`; the address of the copy, or "" if none was made. Save Page Now answers with the copy's
    address in Content-Location or by redirecting to it."""
    submit = settings.AITRACKER_ARCHIVE_SUBMIT_URL
    if not submit:
        return ""
    checker = checker or make_checker()
    current = submit + url
    try:
        for _hop in range(MAX_REDIRECTS):
            status, headers, _body = checker.request("GET", current, max_body=MAX_BODY_BYTES)
            location = headers.get("Content-Location")
            if location and 200 <= status < 300:
                return urljoin(current, location)
            if status in REDIRECT_CODES and headers.get("Location"):
                current = urljoin(current, headers["Location"])
                continue
            if 200 <= status < 300 and current != submit + url:
                return current
            return ""
    except (TimeoutError, OSError, http.client.HTTPException, ValueError):
        logger.warning("the archive did not answer for %s", url, exc_info=True)
    return ""
