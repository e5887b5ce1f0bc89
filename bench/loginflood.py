"""A public page's latency while failed logins flood the site: `.venv/bin/python -m bench.loginflood`.

Serves a small seeded database with the production server (gunicorn, gunicorn.conf.py, DJANGO_DEBUG=0), as
bench/run.py does, and measures the median and p99 latency of a public page (the dashboard, one visitor at a
time) three ways: alone; with CLIENTS concurrent clients sending failed logins as fast as they are answered,
each with a new username, under the settings as they were before issue 10's hole 9 (PBKDF2, lockout per
account and address only: bench/loginflood_before.py); and with the same flood under today's settings
(Argon2id at OWASP's minimum, and a lock on the address across usernames). Under two minutes (the first run
also seeds the database); the figures go to bench/results/<date>-loginflood.md.
"""

import argparse
import http.client
import re
import statistics
import threading
import time
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

from bench import harness

RESULTS = harness.ROOT / "bench" / "results"
DB_URL = f"sqlite:///{harness.ROOT / 'bench' / 'db' / 'loginflood.sqlite3'}"
PAGE = "/"


def _request(base, method, path, *, body=None, headers=None, timeout=30):
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def _login_form(base):
    """A CSRF cookie and token from the login page, as a browser would get them."""
    _status, headers, body = _request(base, "GET", "/accounts/login/")
    cookie = next(value.split(";")[0] for name, value in headers if name.lower() == "set-cookie" and "csrf" in value)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
    return cookie, token


class Flood:
    """CLIENTS threads, each sending failed logins one after another, a new username each time."""

    def __init__(self, base, clients):
        self.base, self.clients = base, clients
        self.stop = threading.Event()
        self.statuses = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(clients)]

    def _run(self, number):
        cookie, token = _login_form(self.base)
        attempt = 0
        while not self.stop.is_set():
            attempt += 1
            body = urlencode(
                {"csrfmiddlewaretoken": token, "username": f"guess-{number}-{attempt}", "password": "not it"}
            )
            headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
            try:
                status = _request(self.base, "POST", "/accounts/login/", body=body, headers=headers)[0]
            except OSError:
                status = "error"
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def page_latencies(base, seconds):
    """One visitor loading the page again and again for `seconds`: each response time, in ms."""
    latencies, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        status = _request(base, "GET", PAGE)[0]
        latencies.append((time.perf_counter() - started) * 1000)
        assert status == 200, status
    return latencies


def summary(latencies):
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"n": len(ordered), "p50": statistics.median(ordered), "p99": p99}


def run_case(label, env, args, *, flood):
    print(f"-- {label}", flush=True)
    harness.manage(DB_URL, "axes_reset", env=env)  # each case starts with no failure counted
    with harness.start_server(DB_URL, env=env) as server:
        page_latencies(server.url, 1)  # warm up every worker's cache
        if not flood:
            return {"label": label, "page": summary(page_latencies(server.url, args.seconds)), "logins": {}}
        with Flood(server.url, args.clients) as running:
            time.sleep(1)
            page = summary(page_latencies(server.url, args.seconds))
            logins = dict(running.statuses)
        return {"label": label, "page": page, "logins": logins}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=10, help="Concurrent failed-login clients.")
    parser.add_argument("--seconds", type=float, default=15, help="Seconds of page loads per case.")
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    load_before = harness.load_average()
    harness.seed(DB_URL, commitments=200, updates_per_commitment=10)
    harness.collectstatic(DB_URL)
    # The flood's cookies come over plain HTTP here; the page cache is on, as in production.
    base_env = harness.production_env(DB_URL, DJANGO_SECURE_COOKIES="0")
    before_env = dict(base_env, DJANGO_SETTINGS_MODULE="bench.loginflood_before")
    cases = [
        run_case("no flood", base_env, args, flood=False),
        run_case(f"{args.clients} failed-login clients, before (PBKDF2, lock per account+address)", before_env, args,
                 flood=True),
        run_case(f"{args.clients} failed-login clients, after (Argon2id, + lock per address)", base_env, args,
                 flood=True),
    ]  # fmt: skip
    host = harness.machine()
    lines = [
        f"# Login flood, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Machine: {host['cpu']}, {host['cores']} cores ({host['hostname']}); load average before "
        f"{load_before}, after {harness.load_average()}",
        "- Server: gunicorn (gunicorn.conf.py), DJANGO_DEBUG=0, SQLite, 200 commitments x 10 updates, page cache on",
        f"- Page: `{PAGE}`, one visitor at a time for {args.seconds:g} s per case; the flood: {args.clients} "
        "clients, each sending failed logins back to back with a new username every time, from one address",
        "",
        "| case | page p50 (ms) | page p99 (ms) | page loads | login answers |",
        "|---|---:|---:|---:|---|",
    ]
    for case in cases:
        page = case["page"]
        logins = ", ".join(f"{status}: {count}" for status, count in sorted(case["logins"].items(), key=str)) or "—"
        lines.append(f"| {case['label']} | {page['p50']:.0f} | {page['p99']:.0f} | {page['n']} | {logins} |")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{started:%Y-%m-%d}-loginflood.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
