"""Login flood: `make loginflood`, or `.venv/bin/python -m bench.loginflood --help`.

Ten attackers (threads) post failed logins to /accounts/login/ as fast as the server answers, each with a new
made-up username every time (so a lockout per username and address never triggers), for 30 s against
`make serve`'s production path (nginx in front of gunicorn, deploy/serve.py), while one visitor at a time fetches
a public page that is not cached (a new query string each time, as a search or a filter would be). A quiet phase
before gives the page's latency without them. One table, printed and written to
bench/results/<date>-loginflood.md.

Loopback only, bounded in time (about a minute). It measures what a failed login costs the site: the password
hasher's work and whatever throttling answers before it.
"""

import argparse
import http.client
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from bench import harness, slowclients
from deploy import serve

RESULTS = harness.ROOT / "bench" / "results"
HOST = "127.0.0.1"
LOGIN = "/accounts/login/"
_CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Attacker:
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def run(self, port: int, until: float) -> None:
        cookie, token = self._csrf(port)
        while time.monotonic() < until:
            body = urlencode(
                {"csrfmiddlewaretoken": token, "username": f"nobody-{secrets.token_hex(4)}", "password": "wrong-" * 3}
            )
            started = time.perf_counter()
            connection = http.client.HTTPConnection(HOST, port, timeout=30)
            try:
                connection.request(
                    "POST",
                    LOGIN,
                    body=body,
                    headers={
                        "Host": f"{HOST}:{port}",
                        "Cookie": cookie,
                        "Content-Type": "application/x-www-form-urlencoded",
                        "Referer": f"http://{HOST}:{port}{LOGIN}",
                        "Origin": f"http://{HOST}:{port}",
                    },
                )
                response = connection.getresponse()
                response.read()
                self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
            except (OSError, http.client.HTTPException):
                self.errors += 1
            finally:
                connection.close()

    @staticmethod
    def _csrf(port: int) -> tuple[str, str]:
        connection = http.client.HTTPConnection(HOST, port, timeout=30)
        connection.request("GET", LOGIN, headers={"Host": f"{HOST}:{port}"})
        response = connection.getresponse()
        page = response.read()
        cookies = [value.split(";", 1)[0] for name, value in response.getheaders() if name.lower() == "set-cookie"]
        connection.close()
        match = _CSRF_INPUT.search(page)
        if response.status != 200 or not match:
            raise RuntimeError(f"no login form at {LOGIN} ({response.status})")
        return "; ".join(cookies), match.group(1).decode()


def uncached_page_probe() -> slowclients.Probe:
    """/commitments/ with a new query string on every request: never a page-cache hit."""

    class Uncached(slowclients.Probe):
        def run(self, port, until, timeout, pause):
            base = self.path
            while time.monotonic() < until:
                self.path = f"{base}?q=&n={secrets.token_hex(4)}"
                super().run(port, time.monotonic() + 0.001, timeout, 0)
                time.sleep(pause)
            self.path = base

    return Uncached("/commitments/")


@dataclass
class Phase:
    label: str
    probe: slowclients.Probe
    attackers: list[Attacker]


def run_phase(label: str, port: int, seconds: float, attackers: int, args) -> Phase:
    until = time.monotonic() + seconds
    probe = uncached_page_probe()
    crowd = [Attacker() for _ in range(attackers)]
    threads = [threading.Thread(target=a.run, args=(port, until), daemon=True) for a in crowd]
    threads.append(threading.Thread(target=probe.run, args=(port, until, args.probe_timeout, args.pause), daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    attempts = sum(sum(a.statuses.values()) for a in crowd)
    print(
        f"   {label:<28} page p50 {slowclients.fmt_ms(probe.percentile(0.5)):>8}  "
        f"p99 {slowclients.fmt_ms(probe.percentile(0.99)):>8}  errors {sum(probe.errors.values())}  "
        f"failed logins {attempts} ({attempts / seconds:.1f}/s)",
        flush=True,
    )
    return Phase(label, probe, crowd)


def report(phases: list[Phase], args, started: datetime, load_before: str, facts: dict) -> str:
    host = harness.machine()
    lines = [
        f"# Login flood, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"`make loginflood` (bench/loginflood.py) on {host['hostname']}: {host['cpu']}, {host['cores']} cores, "
        f"{host['ram_gib']} GiB; load average before: {load_before}. `make serve`'s path (nginx in front of "
        f"gunicorn's {facts['workers']} sync workers), SQLite, {facts['commitments']:,} commitments, DJANGO_DEBUG=0, "
        f"git {facts['commit']}.",
        "",
        f"{args.attackers} attackers post failed logins, a new username each time, as fast as they are answered, "
        f"for {args.seconds:g} s; one visitor at a time fetches `/commitments/` with a new query string each time "
        f"(never cached), {args.pause * 1000:.0f} ms apart. A quiet phase of {args.baseline:g} s comes first.",
        "",
        "| phase | page requests | page p50 | page p99 | page errors | failed logins | per second | login p50 | "
        "answers |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for phase in phases:
        probe = phase.probe
        latencies = sorted(ms for a in phase.attackers for ms in a.latencies_ms)
        statuses: dict[int, int] = {}
        for attacker in phase.attackers:
            for status, count in attacker.statuses.items():
                statuses[status] = statuses.get(status, 0) + count
        seconds = args.seconds if phase.attackers else args.baseline
        attempts = sum(statuses.values())
        login_p50 = slowclients.fmt_ms(latencies[len(latencies) // 2]) if latencies else "-"
        answers = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items())) or "-"
        lines.append(
            f"| {phase.label} | {probe.requests} | {slowclients.fmt_ms(probe.percentile(0.5))} | "
            f"{slowclients.fmt_ms(probe.percentile(0.99))} | {sum(probe.errors.values())} | "
            f"{attempts if phase.attackers else '-'} | {attempts / seconds:.1f} | {login_p50} | {answers} |"
        )
    return "\n".join([*lines, ""])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attackers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--baseline", type=float, default=10)
    parser.add_argument("--probe-timeout", type=float, default=10)
    parser.add_argument("--pause", type=float, default=0.1)
    parser.add_argument("--commitments", type=int, default=1000)
    parser.add_argument("--updates-per-commitment", type=int, default=10)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if not serve.find_nginx():
        print("bench.loginflood needs nginx: apt-get install nginx-light", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    load_before = harness.load_average()
    db_url = f"sqlite:///{harness.ROOT / 'bench' / 'db' / 'slowclients.sqlite3'}"
    harness.seed(db_url, commitments=args.commitments, updates_per_commitment=args.updates_per_commitment)
    harness.collectstatic(db_url)
    env = harness.production_env(db_url)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=harness.ROOT, text=True, capture_output=True
    ).stdout.strip()
    facts = {
        "commitments": args.commitments,
        "workers": int(env.get("WEB_CONCURRENCY") or (os.cpu_count() or 1) * 2 + 1),
        "commit": commit or "?",
    }
    phases = []
    with tempfile.TemporaryDirectory(prefix="aitracker-flood-") as folder:
        process, port = slowclients.start_nginx_front(db_url, env, Path(folder) / "run", Path(folder) / "serve.log")
        try:
            slowclients.warm_up(port, args)
            phases.append(run_phase(f"quiet, {args.baseline:g} s", port, args.baseline, 0, args))
            label = f"{args.attackers} failed logins at once, {args.seconds:g} s"
            phases.append(run_phase(label, port, args.seconds, args.attackers, args))
        finally:
            slowclients.stop(process)
    text = report(phases, args, started, load_before, facts)
    print("\n" + text)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{started:%Y-%m-%d}-loginflood.md"
        path.write_text(text)
        print(f"written to {path.relative_to(harness.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
