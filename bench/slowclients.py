"""Slow clients: `make slowclients`, or `.venv/bin/python -m bench.slowclients --help`.

Opens 50 slow connections (slowloris: the start of a request, then one more header line every few seconds,
never the blank line that ends the headers; reconnecting whenever the server closes one) for 60 s against
(a) gunicorn alone, as `make serve` ran it before, and (b) `make serve`'s nginx front (deploy/serve.py), while
two probes, each a new visitor one request at a time, time /healthz and a public page. A quiet phase before
gives each server's latency without them. One table, printed and written to bench/results/<date>-slowclients.md.

Everything runs on 127.0.0.1 (the database is seeded with seed_synthetic into bench/db/), bounded in time:
about 2 x (baseline + attack + start) seconds.
"""

import argparse
import http.client
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench import harness
from deploy import serve

RESULTS = harness.ROOT / "bench" / "results"
HOST = "127.0.0.1"  # loopback only: this is an attack tool
PUBLIC_PAGE = "/commitments/"


@dataclass
class Probe:
    """One URL fetched over and over by one visitor at a time, each on a new connection."""

    path: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + sum(self.errors.values())

    def percentile(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    def share_under(self, ms: float) -> float:
        """Share of all requests (errors count as over) answered correctly within ms."""
        return sum(1 for value in self.latencies_ms if value < ms) / self.requests if self.requests else 0.0

    def run(self, port: int, until: float, timeout: float, pause: float) -> None:
        while time.monotonic() < until:
            started = time.perf_counter()
            connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
            try:
                connection.request("GET", self.path, headers={"Host": HOST})
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    self.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    self._error(f"HTTP {response.status}")
            except TimeoutError:
                self._error("timeout")
            except OSError as error:
                self._error(type(error).__name__)
            except http.client.HTTPException as error:
                self._error(type(error).__name__)
            finally:
                connection.close()
            time.sleep(pause)

    def _error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class SlowClients:
    """`count` connections that each send one header line every `interval` seconds and never finish."""

    def __init__(self, port: int, *, count: int, interval: float):
        self.port, self.count, self.interval = port, count, interval
        self.selector = selectors.DefaultSelector()
        self.sockets: dict[socket.socket, float] = {}  # socket -> when it sends its next line
        self.opened = 0
        self.closed_by_server = 0
        self.lines = 0

    def _open(self) -> None:
        try:
            sock = socket.create_connection((HOST, self.port), timeout=2)
        except OSError:
            return  # a full backlog: try again on the next tick
        sock.setblocking(False)
        try:
            sock.send(f"GET {PUBLIC_PAGE} HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: slowclient\r\n".encode())
        except OSError:
            sock.close()
            return
        self.selector.register(sock, selectors.EVENT_READ)
        self.sockets[sock] = time.monotonic() + self.interval
        self.opened += 1

    def _close(self, sock: socket.socket) -> None:
        self.selector.unregister(sock)
        self.sockets.pop(sock, None)
        sock.close()

    def run(self, until: float) -> None:
        while time.monotonic() < until:
            while len(self.sockets) < self.count:
                before = len(self.sockets)
                self._open()
                if len(self.sockets) == before:
                    break
            # A server that answers (408) or closes a connection frees it: the attacker opens another.
            for key, _ in self.selector.select(timeout=0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data or data.startswith(b"HTTP/"):
                    self.closed_by_server += 1
                    self._close(sock)
            now = time.monotonic()
            for sock, due in list(self.sockets.items()):
                if due <= now:
                    try:
                        sock.send(f"X-Slow-{self.lines}: {self.lines}\r\n".encode())
                        self.lines += 1
                        self.sockets[sock] = now + self.interval
                    except OSError:
                        self.closed_by_server += 1
                        self._close(sock)
        for sock in list(self.sockets):
            self._close(sock)


@dataclass
class Phase:
    server: str
    label: str
    seconds: float
    probes: list[Probe]
    slow: SlowClients | None = None


def warm_up(port: int, args) -> None:
    """Every worker's first requests (imports, the page cache, SQLite's) are not what is measured."""
    for path in ("/healthz", PUBLIC_PAGE):
        Probe(path).run(port, time.monotonic() + 3, args.probe_timeout, 0)


def run_phase(server: str, label: str, port: int, seconds: float, args, slow_count: int = 0) -> Phase:
    until = time.monotonic() + seconds
    probes = [Probe("/healthz"), Probe(PUBLIC_PAGE)]
    slow = SlowClients(port, count=slow_count, interval=args.interval) if slow_count else None
    threads = [threading.Thread(target=slow.run, args=(until,), daemon=True)] if slow else []
    if slow:
        threads[0].start()
        time.sleep(1)  # let them take their sockets before the probes start
    threads += [
        threading.Thread(target=probe.run, args=(port, until, args.probe_timeout, args.pause), daemon=True)
        for probe in probes
    ]
    for thread in threads[len(threads) - len(probes) :]:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + args.probe_timeout + 10)
    phase = Phase(server, label, seconds, probes, slow)
    for probe in probes:
        p50, p99 = probe.percentile(0.5), probe.percentile(0.99)
        print(
            f"   {server:<22} {label:<24} {probe.path:<14} {probe.requests:5d} req  "
            f"p50 {fmt_ms(p50):>8}  p99 {fmt_ms(p99):>8}  errors {sum(probe.errors.values()):4d}  "
            f"under 1 s {probe.share_under(1000):6.1%}",
            flush=True,
        )
    return phase


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def start_nginx_front(db_url: str, env: dict, run_dir: Path, log_path: Path) -> tuple[subprocess.Popen, int]:
    port = harness.free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [harness.PYTHON, "-m", "deploy.serve", "--host", HOST, "--port", str(port), "--run-dir", str(run_dir)],
            cwd=harness.ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"deploy.serve exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        if "Serving on" in log_path.read_text(errors="replace"):
            return process, port
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"deploy.serve did not start:\n{log_path.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def report(phases: list[Phase], args, facts: dict, started: datetime, load_before: str) -> str:
    host = harness.machine()
    lines = [
        f"# Slow clients, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"`make slowclients` (bench/slowclients.py) on {host['hostname']}: {host['cpu']}, {host['cores']} cores, "
        f"{host['ram_gib']} GiB; load average before: {load_before}. SQLite, {facts['commitments']:,} commitments "
        f"x {facts['updates_per_commitment']} updates (seed_synthetic), DJANGO_DEBUG=0, page cache on (600 s), "
        f"gunicorn.conf.py's {facts['workers']} sync workers.",
        "",
        f"Each server: {args.baseline:g} s quiet, then {args.slow} slow connections for {args.seconds:g} s (the "
        f"start of a `GET {PUBLIC_PAGE}` and one more header line every {args.interval:g} s, never the end of "
        "the headers; reopened whenever the server closes one). Meanwhile two probes, each one visitor making "
        f"one request at a time on a new connection (timeout {args.probe_timeout:g} s, {args.pause * 1000:.0f} ms "
        "between requests), fetch `/healthz` and `/commitments/`, after 3 s of warm-up each (not counted). "
        "Latency of the successful requests; errors are "
        "timeouts, refused connections and non-200 answers; 'under 1 s' counts errors as over.",
        "",
        "| server | phase | URL | requests | p50 | p99 | max | errors | under 1 s | slow sockets opened "
        "(closed by server) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for phase in phases:
        for probe in phase.probes:
            errors = sum(probe.errors.values())
            detail = ", ".join(f"{kind} {count}" for kind, count in sorted(probe.errors.items()))
            slow = f"{phase.slow.opened} ({phase.slow.closed_by_server})" if phase.slow else "-"
            maximum = max(probe.latencies_ms) if probe.latencies_ms else None
            lines.append(
                f"| {phase.server} | {phase.label} | `{probe.path}` | {probe.requests} | "
                f"{fmt_ms(probe.percentile(0.5))} | {fmt_ms(probe.percentile(0.99))} | {fmt_ms(maximum)} | "
                f"{errors}{f' ({detail})' if detail else ''} | {probe.share_under(1000):.1%} | {slow} |"
            )
    lines += ["", *FINDINGS, ""]
    return "\n".join(lines)


FINDINGS = [
    "Reading: gunicorn's sync workers each hold one connection from its first byte to its last, so as many",
    "slow sockets as there are workers stop every request behind them (the probes wait out their timeout).",
    "nginx reads each request's headers and body in full before it passes the request on, in one event loop",
    "where a slow socket costs a few kilobytes; client_header_timeout (10 s) closes the ones that never finish,",
    "and the workers only ever see complete requests. See deploy/nginx.conf.template and the README.",
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow", type=int, default=50, help="slow connections (default 50)")
    parser.add_argument("--seconds", type=float, default=60, help="how long they last (default 60)")
    parser.add_argument("--baseline", type=float, default=10, help="quiet seconds before (default 10)")
    parser.add_argument("--interval", type=float, default=5, help="seconds between header lines (default 5)")
    parser.add_argument("--probe-timeout", type=float, default=5, help="a probe's timeout (default 5 s)")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between a probe's requests")
    parser.add_argument("--commitments", type=int, default=1000)
    parser.add_argument("--updates-per-commitment", type=int, default=10)
    parser.add_argument("--only", choices=["gunicorn", "nginx"], help="measure one server only")
    parser.add_argument("--no-write", action="store_true", help="print the table, do not write it")
    args = parser.parse_args(argv)

    if not serve.find_nginx() and args.only != "gunicorn":
        print("bench.slowclients needs nginx: apt-get install nginx-light", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    load_before = harness.load_average()
    db_url = f"sqlite:///{harness.ROOT / 'bench' / 'db' / 'slowclients.sqlite3'}"
    print(f"== seeding {args.commitments:,} x {args.updates_per_commitment} into {db_url}", flush=True)
    harness.seed(db_url, commitments=args.commitments, updates_per_commitment=args.updates_per_commitment)
    harness.collectstatic(db_url)
    env = harness.production_env(db_url)
    workers = int(env.get("WEB_CONCURRENCY") or (os.cpu_count() or 1) * 2 + 1)  # gunicorn.conf.py's rule
    facts = {
        "commitments": args.commitments,
        "updates_per_commitment": args.updates_per_commitment,
        "workers": workers,
    }
    phases: list[Phase] = []
    if args.only != "nginx":
        print("== gunicorn alone", flush=True)
        with harness.start_server(db_url, env=dict(env)) as server:
            port = int(server.url.rsplit(":", 1)[1])
            warm_up(port, args)
            phases.append(run_phase("gunicorn alone", f"quiet, {args.baseline:g} s", port, args.baseline, args))
            label = f"{args.slow} slow clients, {args.seconds:g} s"
            phases.append(run_phase("gunicorn alone", label, port, args.seconds, args, slow_count=args.slow))
    if args.only != "gunicorn":
        print("== nginx front (make serve)", flush=True)
        with tempfile.TemporaryDirectory(prefix="aitracker-slow-") as folder:
            process, port = start_nginx_front(db_url, dict(env), Path(folder) / "run", Path(folder) / "serve.log")
            try:
                warm_up(port, args)
                phases.append(run_phase("nginx -> gunicorn", f"quiet, {args.baseline:g} s", port, args.baseline, args))
                label = f"{args.slow} slow clients, {args.seconds:g} s"
                phases.append(run_phase("nginx -> gunicorn", label, port, args.seconds, args, slow_count=args.slow))
            finally:
                stop(process)
    text = report(phases, args, facts, started, load_before)
    print("\n" + text)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{started:%Y-%m-%d}-slowclients.md"
        path.write_text(text)
        print(f"\nwritten to {path.relative_to(harness.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
