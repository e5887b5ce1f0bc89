"""Run aitracker as in production and measure it: seed a database, start gunicorn on a free port, drive it
with wrk, sample the workers' memory, count a page's SQL queries.

bench/run.py (`make bench`) uses these, and so can other load tests (e.g. bench/soak.py):

    from bench.harness import seed, start_server, run_wrk
    seed(db_url, commitments=1000, updates_per_commitment=30)
    with start_server(db_url, port=0, workers=5) as server:
        result = run_wrk(server.url + "/healthz", seconds=10)

Everything runs in subprocesses with the production settings (DJANGO_DEBUG=0), so nothing here imports
Django itself.
"""

import http.client
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
GUNICORN = [PYTHON, "-m", "gunicorn"]
WRK = shutil.which("wrk") or "/usr/bin/wrk"
# One key per benchmark process: sessions made for the admin must be signed with the server's key.
_SECRET_KEY = secrets.token_urlsafe(64)


def production_env(db_url: str, **extra: str) -> dict[str, str]:
    """The environment of a production server on 127.0.0.1: DEBUG off, plain HTTP, a real secret key."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": db_url,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or _SECRET_KEY,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            # wrk is one address: the API's per-address rate limit would answer it 429s.
            "AITRACKER_API_RATE": "",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def manage(db_url: str, *args: str, env: dict | None = None, capture: bool = False) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env or production_env(db_url),
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return result.stdout or ""


def django_snippet(db_url: str, code: str, env: dict | None = None) -> str:
    """Run Python in a configured Django process against db_url; returns what it printed."""
    return manage(db_url, "shell", "--no-imports", "-c", code, env=env, capture=True)


def ensure_database(db_url: str) -> None:
    """Create the PostgreSQL database if it does not exist (a SQLite file is created on first use)."""
    parts = urlsplit(db_url)
    if not parts.scheme.startswith("postgres"):
        Path(parts.path).parent.mkdir(parents=True, exist_ok=True)
        return
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    code = (
        "import psycopg, sys\n"
        f"with psycopg.connect({admin_url!r}, autocommit=True) as c:\n"
        f"    if not c.execute('SELECT 1 FROM pg_database WHERE datname = %s', [{name!r}]).fetchone():\n"
        f"        c.execute('CREATE DATABASE \"{name}\"')\n"
    )
    subprocess.run([PYTHON, "-c", code], check=True)


def seed_seconds_path(db_url: str) -> Path:
    """Where seed() records how long the seed that made db_url took: bench/db/<name>.seed-seconds beside a
    SQLite file (<file>.seed-seconds), or under bench/db/ for a PostgreSQL database."""
    parts = urlsplit(db_url)
    if parts.scheme.startswith("postgres"):
        return ROOT / "bench" / "db" / f"{parts.path.lstrip('/')}.seed-seconds"
    return Path(parts.path).with_suffix(".seed-seconds")


def seed(db_url: str, *, commitments: int, updates_per_commitment: int, seed: int = 1, force: bool = False) -> dict:
    """Migrate and fill db_url with seed_synthetic, unless it already holds exactly that much data.

    Returns {"seeded": bool, "seconds": float, "commitments": int, "updates": int, "recorded_seconds": float or
    None}: `seconds` is this call's seed (0 when it reused the data); `recorded_seconds` the time of the seed
    that made the data, this one or an earlier one, as recorded in seed_seconds_path(db_url)."""
    ensure_database(db_url)
    manage(db_url, "migrate", "--noinput", "-v0")
    counts = json.loads(
        django_snippet(
            db_url,
            "import json\nfrom aitracker.models import Commitment, ProgressUpdate\n"
            "print(json.dumps({'commitments': Commitment.objects.count(), 'updates': ProgressUpdate.objects.count()}))",
        )
    )
    wanted = {"commitments": commitments, "updates": commitments * updates_per_commitment}
    record = seed_seconds_path(db_url)
    if counts == wanted and not force:
        recorded = None
        try:
            data = json.loads(record.read_text())
            if data.get("commitments") == commitments and data.get("updates") == wanted["updates"]:
                recorded = float(data["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return {"seeded": False, "seconds": 0.0, "recorded_seconds": recorded, **counts}
    record.unlink(missing_ok=True)
    started = time.perf_counter()
    manage(
        db_url,
        "seed_synthetic",
        f"--commitments={commitments}",
        f"--updates-per-commitment={updates_per_commitment}",
        f"--seed={seed}",
        "--flush",
    )
    seconds = time.perf_counter() - started
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(
        json.dumps({"seconds": round(seconds, 2), **wanted, "seed": seed, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        + "\n"
    )
    return {"seeded": True, "seconds": seconds, "recorded_seconds": seconds, **wanted}


def collectstatic(db_url: str) -> None:
    manage(db_url, "collectstatic", "--noinput", "-v0")


def superuser_session_cookie(db_url: str, *, username: str = "bench-admin", env: dict | None = None) -> str:
    """A logged-in superuser's session, made directly in the database; returns the Cookie header value."""
    code = f"""
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from importlib import import_module
User = get_user_model()
user, created = User.objects.get_or_create(username={username!r}, defaults={{"is_staff": True, "is_superuser": True}})
if created:
    user.set_unusable_password()
    user.save()
session = import_module(settings.SESSION_ENGINE).SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.set_expiry(3 * 3600)
session.save()
print(f"{{settings.SESSION_COOKIE_NAME}}={{session.session_key}}")
"""
    return django_snippet(db_url, code, env=env).strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def worker_pids(self) -> list[int]:
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(pid) for pid in children]

    def cpu_seconds(self) -> float:
        """CPU time used so far by the workers (and the master)."""
        total = 0
        for pid in [self.pid, *self.worker_pids()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime and stime, in clock ticks
        return total / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, *, timeout: float = 120, quiet: float = 0.5) -> None:
        """Wait until the workers have finished what a load left queued (wrk stops sending, not the server
        working): no CPU used for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        before = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self.cpu_seconds()
            if now - before < 0.02:
                return
            before = now

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.returncode == 0:
            self.log_path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_server(
    db_url: str,
    port: int = 0,
    workers: int | None = None,
    *,
    env: dict | None = None,
    log_dir: Path | None = None,
    ready_timeout: float = 60,
) -> Server:
    """Start gunicorn (gunicorn.conf.py, production settings) on 127.0.0.1; port 0 picks a free one.

    Waits until /healthz answers. Static files must have been collected (collectstatic())."""
    port = port or free_port()
    env = env or production_env(db_url)
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    log_dir = log_dir or ROOT / "bench" / "results"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"gunicorn-{port}.log.tmp"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [*GUNICORN, "-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}", "aitracker.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process=process, url=f"http://127.0.0.1:{port}", log_path=log_path)
    deadline = time.monotonic() + ready_timeout
    expected = int(env.get("WEB_CONCURRENCY") or 0)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=2) as response:
                if response.status == 200 and (not expected or len(server.worker_pids()) >= expected):
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"gunicorn did not answer /healthz within {ready_timeout} s:\n{server.log_tail()}")


def _status_kib(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mib(pid: int) -> float | None:
    kib = _status_kib(pid, "VmRSS")
    return None if kib is None else kib / 1024


class MemorySampler:
    """Peak resident memory of each worker while a load runs: VmRSS sampled every 50 ms, and VmHWM (the
    kernel's own high-water mark, reset at the start through /proc/<pid>/clear_refs where allowed)."""

    def __init__(self, pids: list[int], interval: float = 0.05):
        self.pids = pids
        self.interval = interval
        self.before = {pid: rss_mib(pid) or 0.0 for pid in pids}
        self.peak = dict(self.before)
        self._hwm_reset = all(self._reset_hwm(pid) for pid in pids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _reset_hwm(pid: int) -> bool:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    def _run(self):
        while not self._stop.is_set():
            for pid in self.pids:
                value = rss_mib(pid)
                if value is not None and value > self.peak[pid]:
                    self.peak[pid] = value
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if self._hwm_reset:
            for pid in self.pids:
                hwm = _status_kib(pid, "VmHWM")
                if hwm is not None:
                    self.peak[pid] = max(self.peak[pid], hwm / 1024)

    @property
    def peak_mib(self) -> float:
        return max(self.peak.values(), default=0.0)

    @property
    def growth_mib(self) -> float:
        """The largest growth of one worker, from before the load to its peak during it."""
        return max((self.peak[pid] - self.before[pid] for pid in self.pids), default=0.0)


@dataclass
class WrkResult:
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    non_2xx_3xx: int = 0
    socket_errors: dict = field(default_factory=dict)
    output: str = ""

    @property
    def errors(self) -> int:
        return self.non_2xx_3xx + sum(self.socket_errors.values())


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS_MS[unit]


def parse_wrk(output: str) -> WrkResult:
    result = WrkResult(output=output)
    if match := re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", output):
        result.requests = int(match.group(1))
        result.seconds = _ms(match.group(2) + match.group(3)) / 1000
    if match := re.search(r"Requests/sec:\s+([\d.]+)", output):
        result.rps = float(match.group(1))
    if match := re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE):
        result.p50_ms = _ms(match.group(1))
    if match := re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE):
        result.p99_ms = _ms(match.group(1))
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        result.non_2xx_3xx = int(match.group(1))
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        result.socket_errors = dict(zip(["connect", "read", "write", "timeout"], map(int, match.groups()), strict=True))
    return result


def run_wrk(
    url: str,
    *,
    seconds: float = 10,
    connections: int = 32,
    threads: int = 2,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> WrkResult:
    """Drive url with wrk at a fixed concurrency for a fixed time; latency percentiles from --latency."""
    command = [
        WRK,
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",  # wrk takes whole seconds
        f"--timeout={timeout:g}s",
        "--latency",
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], check=True, text=True, capture_output=True).stdout
    return parse_wrk(output)


# Counting queries runs in its own process: `python -m bench.harness count-queries PATH…` with the
# database and settings in its environment. It renders each path through Django's test client, first
# with the page cache off (the queries a page costs to render), then twice with it on (a hit costs none).
_COUNT_QUERIES = """
import json, sys
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

paths, cookie = json.loads(sys.argv[1]), sys.argv[2]
# The server modes of bench/run.py: (page cache, kept counts, shared fragments) seconds.
MODES = {"cold": (0, 0, 0), "miss": (0, 600, 600), "hit": (600, 600, 600)}
result = {}
for path in paths:
    client = Client(raise_request_exception=True)
    if path.startswith("/admin/"):
        name, _, value = cookie.partition("=")
        client.cookies[name] = value
    counts = {}
    cache.clear()
    for label, (page, summary, fragment) in MODES.items():
        with override_settings(
            AITRACKER_PAGE_CACHE_SECONDS=page,
            AITRACKER_SUMMARY_CACHE_SECONDS=summary,
            AITRACKER_FRAGMENT_CACHE_SECONDS=fragment,
        ):
            # cold: from nothing. miss and hit: the second request, once the first has filled what they keep.
            for attempt in range(1 if label == "cold" else 2):
                with CaptureQueriesContext(connection) as queries:
                    response = client.get(path)
                    if response.streaming:
                        for _chunk in response.streaming_content:
                            pass
                assert response.status_code == 200, (path, response.status_code)
        counts[label] = len(queries)
    counts["render"] = counts["cold"]  # the former name
    result[path] = counts
print(json.dumps(result))
"""


def count_queries(db_url: str, paths: list[str], *, admin_cookie: str = "", env: dict | None = None) -> dict:
    """{path: {"cold": n, "miss": n, "hit": n, "render": n}}: SQL queries per request, through the test client,
    in each server mode of bench/run.py ("render", the former name of "cold")."""
    env = dict(env or production_env(db_url))
    env["DJANGO_SETTINGS_MODULE"] = "aitracker.settings"
    code = "import django\ndjango.setup()\n" + _COUNT_QUERIES
    output = subprocess.run(
        [PYTHON, "-c", code, json.dumps(paths), admin_cookie],
        cwd=ROOT,
        env=env,
        check=True,
        text=True,
        capture_output=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def machine() -> dict:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "hostname": socket.gethostname(),
        "cpu": cpu,
        "cores": os.cpu_count() or 1,
        "ram_gib": round(ram_kib / 1024 / 1024, 1),
    }


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


# Each URL once: every wrk thread takes its own slice of the list (line i goes to thread i mod threads), sends
# each of its URLs once over its connections, and stops itself when the last answer has come back. A
# connection with nothing left to send waits (delay()) instead of sending anything else, so that no request
# outside the list is made or counted. done() prints the figures as one JSON line.
_CRAWL_LUA = r"""
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  per_thread = tonumber(args[3])
  parked = 0
  finished = false
  paths = {}
  local i = 0
  for line in io.lines(path) do
    if line ~= "" then
      if i % nthreads == id then
        table.insert(paths, line)
      end
      i = i + 1
    end
  end
  sent = 0
  if id == 0 then
    -- wrk (4.1) checks the script by calling thread 0's request() once, right after init, and sends
    -- nothing of it: that call must not use up a URL.
    sent = -1
  end
  answered = 0
  bad = 0
  bad_statuses = ""
  listed = #paths
  if #paths == 0 then
    finish()
  end
end

-- wrk's main thread sleeps for the whole -d duration whatever its threads do: each thread says it is done,
-- and crawl() interrupts that sleep (SIGINT) once all of them have.
function finish()
  if not finished then
    finished = true
    io.write("THREAD DONE\n")
    io.flush()
    wrk.thread:stop()
  end
end

function delay()
  if sent >= #paths then
    -- Nothing left to send: this connection waits. Once all of the thread's have, nothing is in flight
    -- either: done, even if a socket error lost an answer (which would otherwise keep answered short).
    parked = parked + 1
    if parked >= per_thread then
      finish()
    end
    return 3600000
  end
  return 0
end

function request()
  sent = sent + 1
  return wrk.format("GET", paths[math.max(1, math.min(sent, #paths))])
end

function response(status, headers, body)
  answered = answered + 1
  if status < 200 or status >= 300 then
    bad = bad + 1
    if bad <= 10 then
      bad_statuses = bad_statuses .. " " .. status
    end
  end
  if answered >= #paths then
    finish()
  end
end

function done(summary, latency, requests)
  local listed, answered_total, bad_total, bad_text = 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    listed = listed + thread:get("listed")
    answered_total = answered_total + thread:get("answered")
    bad_total = bad_total + thread:get("bad")
    bad_text = bad_text .. thread:get("bad_statuses")
  end
  local e = summary.errors
  io.write(string.format(
    'CRAWL {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"listed": %d, "answered": %d, "bad_status": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status_4xx_5xx": %d, "timeout": %d, "bad_statuses": "%s"}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, listed, answered_total, bad_total, e.connect, e.read, e.write, e.status, e.timeout, bad_text))
end
"""


@dataclass
class CrawlResult:
    urls: int
    requests: int
    answered: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    bad_status: int  # answers other than 2xx (a crawl of valid URLs expects 200 on each)
    socket_errors: dict
    bad_statuses: list[int]  # the first few
    output: str = ""

    @property
    def errors(self) -> int:
        # Every listed URL must have been answered: one that was not is an error too.
        return self.bad_status + sum(self.socket_errors.values()) + max(0, self.urls - self.answered)

    @property
    def rps(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0


def crawl(base_url: str, paths: list[str], *, connections: int = 32, timeout: float = 30, engine: str = "python"):
    """Request each path once (base_url + path), `connections` at a time.

    engine "python" (the default): threads with http.client, a new connection per request, as gunicorn's sync
    workers close each one anyway; its CPU is small beside the pages' (a crawl is a few hundred requests a
    second at most). engine "wrk": wrk and _CRAWL_LUA, which cannot do it cleanly against sync workers: a
    connection with nothing left to send has already reconnected, and that idle socket holds a worker until
    gunicorn's timeout (30 s), so the end of each crawl stalls and wrk counts the idle sockets as timeouts."""
    if engine == "wrk":
        return crawl_wrk(base_url, paths, connections=connections, timeout=timeout)
    parts = urlsplit(base_url)
    queue = list(reversed(paths))
    lock = threading.Lock()
    latencies, bad, errors = [], [], {"connect": 0, "read": 0, "write": 0, "timeout": 0}

    def work():
        while True:
            with lock:
                if not queue:
                    return
                path = queue.pop()
            started = time.perf_counter()
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
            try:
                connection.request("GET", path, headers={"Accept-Encoding": "gzip"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except TimeoutError:
                status = "timeout"
            except ConnectionRefusedError:
                status = "connect"
            except OSError:
                status = "read"
            finally:
                connection.close()
            elapsed = time.perf_counter() - started
            with lock:
                if isinstance(status, str):
                    errors[status] += 1
                else:
                    latencies.append(elapsed)
                    if not 200 <= status < 300:
                        bad.append(f"{status} {path}")

    started = time.perf_counter()
    workers = [threading.Thread(target=work, daemon=True) for _ in range(max(1, min(connections, len(paths))))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)

    def percentile(fraction: float) -> float:
        if not ordered:
            return 0.0
        return 1000 * ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]

    return CrawlResult(
        urls=len(paths),
        requests=len(latencies) + sum(errors.values()),
        answered=len(latencies),
        seconds=seconds,
        p50_ms=percentile(0.50),
        p90_ms=percentile(0.90),
        p99_ms=percentile(0.99),
        max_ms=1000 * ordered[-1] if ordered else 0.0,
        bad_status=len(bad),
        socket_errors=errors,
        bad_statuses=[int(entry.split()[0]) for entry in bad[:10]],
        output="\n".join(bad[:20]),
    )


def crawl_wrk(
    base_url: str, paths: list[str], *, connections: int = 32, threads: int = 2, timeout: float = 30, limit: float = 900
) -> CrawlResult:
    """Request each path once (base_url + path), `connections` at a time, with wrk and _CRAWL_LUA; wrk stops
    when every path has been answered (or after `limit` seconds). See crawl() for why it is not the default."""
    threads = max(1, min(threads, connections, len(paths)))
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:
        script, listing = Path(tmp) / "crawl.lua", Path(tmp) / "paths.txt"
        script.write_text(_CRAWL_LUA)
        listing.write_text("\n".join(paths) + "\n")
        connections = max(connections, threads) // threads * threads  # wrk gives each thread c / t
        command = [
            WRK,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{round(limit)}s",
            f"--timeout={timeout:g}s",
            "-s",
            str(script),
            base_url,
            "--",
            str(listing),
            str(threads),
            str(connections // threads),
        ]
        process = subprocess.Popen(command, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines, finished = [], 0
        for line in process.stdout:
            lines.append(line)
            if line.startswith("THREAD DONE"):
                finished += 1
                if finished == threads:
                    process.send_signal(signal.SIGINT)
        process.wait()
        output = "".join(lines)
        if process.returncode != 0:
            raise RuntimeError(f"wrk exited with {process.returncode}:\n{output}{process.stderr.read()}")
    line = next((line for line in output.splitlines() if line.startswith("CRAWL ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no crawl summary:\n{output}")
    data = json.loads(line[len("CRAWL ") :])
    return CrawlResult(
        urls=len(paths),
        requests=data["requests"],
        answered=data["answered"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        bad_status=data["bad_status"],
        socket_errors={k: data[k] for k in ("connect", "read", "write", "timeout")},
        bad_statuses=[int(s) for s in data["bad_statuses"].split()],
        output=output,
    )
