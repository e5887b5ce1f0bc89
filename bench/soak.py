"""The soak test: `make soak`, or `.venv/bin/python -m bench.soak --help`.

Runs the production server (gunicorn, DJANGO_DEBUG=0, plain HTTP on a free port of 127.0.0.1) against a seeded
database for five minutes (SOAK_SECONDS) at concurrency 32 (SOAK_CONCURRENCY) over a mix of public pages,
while an editor publishes an update every few seconds (SOAK_PUBLISH_EVERY) through the services, in a
separate process. Samples every worker's memory (RSS, /proc) every 10 seconds. Afterwards checks that every
publication is on its commitment's page and in its feed, and writes bench/results/soak-<date>-<db>.md.

It passes (exit status 0) with zero errors (no status outside 2xx/3xx, no socket error), flat memory (no
worker grows by more than 10% or 16 MiB after the first minute) and every publication visible.

SOAK_DATABASE=postgres runs it on PostgreSQL (database aitracker_soak, SOAK_POSTGRES_URL for the server);
REDIS_URL is passed on to the server if set. Uses bench/harness.py, the benchmark's server helpers.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench import harness

RESULTS = harness.ROOT / "bench" / "results"
WARM_UP_SECONDS = 60
GROWTH_LIMIT = (0.10, 16.0)  # a worker may grow by 10% or 16 MiB, whichever is more, after the warm-up

# The publisher: an editor publishing through the services, as the review queue does, in its own process.
PUBLISHER = """
import json, random, sys, time
from datetime import timedelta
from django.contrib.auth.models import User
from django.utils import timezone
from aitracker import services
from aitracker.models import Commitment

deadline, every, token = time.monotonic() + {seconds}, {every}, {token!r}
analyst, editor = User.objects.get(username="soak-analyst"), User.objects.get(username="soak-editor")
slugs = list(Commitment.objects.public().order_by("pk").values_list("slug", flat=True))
rng = random.Random(7)
number = 0
while time.monotonic() < deadline:
    number += 1
    started = time.monotonic()
    slug = rng.choice(slugs)
    marker = f"soak-{{token}}-{{number}}"
    try:
        update = services.progress_update_create(
            commitment=Commitment.objects.get(slug=slug),
            author=analyst,
            reported_on=timezone.localdate() - timedelta(days=rng.randrange(0, 30)),
            status=rng.choice(["in_progress", "partly_achieved", "achieved", "stalled"]),
            progress=rng.randrange(0, 101),
            summary=f"Soak publication {{number}}: {{marker}}.",
            sources=[{{"url": "https://example.org/soak", "title": f"Soak source {{number}}"}}],
        )
        services.progress_update_submit(update=update, user=analyst)
        services.progress_update_publish(update=update, editor=editor)
        print(json.dumps({{"number": number, "slug": slug, "marker": marker, "pk": update.pk,
                          "seconds": round(time.monotonic() - started, 3)}}), flush=True)
    except Exception as error:
        print(json.dumps({{"number": number, "slug": slug, "error": repr(error)}}), flush=True)
    time.sleep(max(0.0, every - (time.monotonic() - started)))
"""

STAFF = """
from django.contrib.auth.models import Group, User
for username, group in [("soak-analyst", "Analyst"), ("soak-editor", "Editor")]:
    user, _ = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    user.set_unusable_password()
    user.save()
    user.groups.add(Group.objects.get(name=group))
"""

PICK = """
import json, random
from aitracker.models import Commitment, Instrument, Party, Theme

def sample(queryset, n):
    slugs = list(queryset.order_by("pk").values_list("slug", flat=True))
    return random.Random(1).sample(slugs, min(n, len(slugs)))

print(json.dumps({
    "commitments": sample(Commitment.objects.public(), 60),
    "instruments": sample(Instrument.objects.all(), 10),
    "parties": sample(Party.objects.all(), 20),
    "themes": sample(Theme.objects.all(), 20),
    "count": Commitment.objects.public().count(),
}))
"""

# wrk: every request picks a path of the mix at random; status codes are counted per thread and summed in
# done(), which prints one JSON line with the latency percentiles and the errors.
WRK_SCRIPT = """
local paths = {paths}
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  statuses = {{}}
  math.randomseed(os.time() * 100 + id)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {{}}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[tostring(status)] = (counts[tostring(status)] or 0) + n
    end
  end
  local parts = {{}}
  for status, n in pairs(counts) do table.insert(parts, string.format('"%s": %d', status, n)) end
  io.write(string.format(
    'SOAK {{"requests": %d, "duration_us": %d, "bytes": %d, "statuses": {{%s}}, ' ..
    '"errors": {{"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}, ' ..
    '"latency_us": {{"p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d, "mean": %.0f}}}}\\n',
    summary.requests, summary.duration, summary.bytes, table.concat(parts, ", "),
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(90)), math.floor(latency:percentile(99)),
    math.floor(latency:percentile(99.9)), math.floor(latency.max), latency.mean))
end
"""


@dataclass
class MemorySamples:
    """RSS of the master and of each worker, every `interval` seconds, from /proc."""

    server: harness.Server
    interval: float
    started: float = field(default_factory=time.monotonic)
    rows: list = field(default_factory=list)  # (seconds, {pid: MiB}, master MiB)
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self):
        workers = {pid: harness.rss_mib(pid) for pid in self.server.worker_pids()}
        workers = {pid: mib for pid, mib in workers.items() if mib is not None}
        self.rows.append((time.monotonic() - self.started, workers, harness.rss_mib(self.server.pid) or 0.0))

    def run(self):
        self.sample()
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self):
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()


def pages(facts: dict) -> list[str]:
    """The mix: what visitors (and bots) read most, the heavier pages less often."""
    last_page = max(1, -(-facts["count"] // 25))
    mix = ["/"] * 6 + ["/commitments/"] * 6 + ["/updates/"] * 4 + ["/healthz"] * 2
    mix += [f"/commitments/{slug}/" for slug in facts["commitments"]] * 2
    mix += [f"/parties/{slug}/" for slug in facts["parties"]]
    mix += [f"/instruments/{slug}/" for slug in facts["instruments"]]
    mix += [f"/themes/{slug}/" for slug in facts["themes"]]
    mix += ["/instruments/", "/parties/", "/themes/", "/methodology/", "/feeds/updates.atom"] * 2
    mix += [f"/commitments/?page={page}" for page in (2, 3, last_page)]
    mix += [
        "/commitments/?status=in_progress&sort=-last_update_on",
        "/commitments/?stale=yes&sort=title",
        "/commitments/?q=AI&sort=-current_progress",
        "/commitments/?page=999999",  # a stray page number: the nearest page, not an error
        "/updates/?page=2",
        f"/feeds/commitments/{facts['commitments'][0]}.atom",
        "/commitments/?_export=json&status=achieved",
    ]
    return mix


def run_wrk(url: str, paths: list[str], *, seconds: int, connections: int, threads: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(paths="{" + ", ".join(json.dumps(p) for p in paths) + "}"))
    try:
        command = [harness.WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout=10s"]
        output = subprocess.run([*command, "-s", script.name, url], check=True, text=True, capture_output=True).stdout
    finally:
        os.unlink(script.name)
    line = next(line for line in output.splitlines() if line.startswith("SOAK "))
    return json.loads(line[5:])


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


def check_visible(base: str, publications: list[dict]) -> list[dict]:
    """Which publications are missing from their commitment's page or its feed."""
    missing = []
    pages = {}
    for publication in publications:
        for path in (f"/commitments/{publication['slug']}/", f"/feeds/commitments/{publication['slug']}.atom"):
            if path not in pages:
                pages[path] = fetch(base + path)
            if publication["marker"] not in pages[path]:
                missing.append({**publication, "missing_from": path})
    return missing


def growth(samples: MemorySamples) -> dict[int, tuple[float, float]]:
    """Per worker alive through the run: (RSS at the end of the warm-up, RSS at the end)."""
    after = [row for row in samples.rows if row[0] >= WARM_UP_SECONDS] or samples.rows[-1:]
    first, last = after[0][1], samples.rows[-1][1]
    return {pid: (first[pid], last[pid]) for pid in first if pid in last}


def slope_mib_per_min(samples: MemorySamples, since: float) -> float:
    """How fast all the workers together grow from `since` seconds on (least squares), in MiB per minute."""
    points = [(t, sum(workers.values())) for t, workers, _ in samples.rows if t >= since]
    if len(points) < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / len(points)
    mean_m = sum(m for _, m in points) / len(points)
    denominator = sum((t - mean_t) ** 2 for t, _ in points) or 1.0
    return 60 * sum((t - mean_t) * (m - mean_m) for t, m in points) / denominator


def report(config, wrk, samples, publications, failures, missing, verdict) -> str:
    ms = {key: value / 1000 for key, value in wrk["latency_us"].items()}
    pids = list(dict.fromkeys(pid for _, workers, _ in samples.rows for pid in sorted(workers)))
    errors = wrk["errors"]
    non_2xx_3xx = sum(n for status, n in wrk["statuses"].items() if not 200 <= int(status) < 400)
    socket_errors = errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
    lines = [
        f"# Soak test, {config['date']}, {config['database']}",
        "",
        f"`make soak` ({config['command']}): gunicorn with {config['workers']} sync workers, DJANGO_DEBUG=0, "
        f"on {config['machine']['cores']} cores ({config['machine']['cpu']}, {config['machine']['ram_gib']} GiB); "
        f"load average before the run {config['load_before']}, after {config['load_after']}. "
        f"Data: {config['data']}. wrk: {config['connections']} connections, {config['threads']} threads, "
        f"{config['seconds']} s over {config['paths']} paths ({config['distinct_paths']} distinct). An editor "
        f"published an update every {config['publish_every']} s through the services, in its own process.",
        "",
        "## Verdict",
        "",
        *(f"- {'PASS' if ok else 'FAIL'}: {what}" for what, ok in verdict.items()),
        "",
        "## Traffic",
        "",
        "| requests | per second | statuses | non-2xx/3xx | socket errors (connect/read/write/timeout) |",
        "|---:|---:|---|---:|---|",
        f"| {wrk['requests']:,} | {wrk['requests'] / (wrk['duration_us'] / 1e6):,.1f} | "
        + ", ".join(f"{status}: {n:,}" for status, n in sorted(wrk["statuses"].items()))
        + f" | {non_2xx_3xx} | {socket_errors} ({errors['connect']}/{errors['read']}/{errors['write']}/"
        f"{errors['timeout']}) |",
        "",
        "## Latency (ms)",
        "",
        "| p50 | p90 | p99 | p99.9 | max | mean |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {ms['p50']:.1f} | {ms['p90']:.1f} | {ms['p99']:.1f} | {ms['p999']:.1f} | {ms['max']:.1f} | "
        f"{ms['mean']:.1f} |",
        "",
        "## Worker memory (RSS, MiB, every 10 s)",
        "",
        "| t (s) | " + " | ".join(f"worker {i + 1}" for i in range(len(pids))) + " | all workers | master |",
        "|---:|" + "---:|" * (len(pids) + 2),
    ]
    for seconds, workers, master in samples.rows:
        values = [f"{workers[pid]:.1f}" if pid in workers else "" for pid in pids]
        lines.append(f"| {seconds:.0f} | " + " | ".join(values) + f" | {sum(workers.values()):.1f} | {master:.1f} |")
    lines += ["", "After the first minute:", ""]
    for pid, (first, last) in growth(samples).items():
        lines.append(f"- worker {pids.index(pid) + 1}: {first:.1f} → {last:.1f} MiB ({last - first:+.1f})")
    lines += [
        f"- all workers together: {slope_mib_per_min(samples, WARM_UP_SECONDS):+.2f} MiB per minute after the first "
        f"minute, {slope_mib_per_min(samples, samples.rows[-1][0] / 2):+.2f} over the second half of the run "
        "(least squares; the local-memory page cache fills up to its MAX_ENTRIES first)",
        f"- worker processes seen: {len(pids)} (a worker restarted or killed would show as more than "
        f"{config['workers']})",
        "",
        "## Publications",
        "",
        f"{len(publications)} updates published ({len(failures)} attempts failed), "
        + (
            f"{sum(p['seconds'] for p in publications) / len(publications):.2f} s each on average (create, submit, "
            "publish). "
            if publications
            else ""
        )
        + f"Afterwards {len(publications) - len({m['number'] for m in missing})} of {len(publications)} were on "
        "their commitment's page and in its Atom feed.",
    ]
    for failure in failures:
        lines.append(f"- publication {failure['number']} failed: {failure['error']}")
    for item in missing:
        lines.append(f"- publication {item['number']} ({item['marker']}) missing from {item['missing_from']}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("SOAK_SECONDS", "300")))
    parser.add_argument("--connections", type=int, default=int(os.environ.get("SOAK_CONCURRENCY", "32")))
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY") or 0) or None)
    parser.add_argument("--publish-every", type=float, default=float(os.environ.get("SOAK_PUBLISH_EVERY", "3")))
    parser.add_argument("--sample-every", type=float, default=10.0)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default=os.environ.get("SOAK_DATABASE", "sqlite"))
    parser.add_argument("--commitments", type=int, default=int(os.environ.get("SOAK_COMMITMENTS", "1000")))
    parser.add_argument("--updates-per-commitment", type=int, default=10)
    args = parser.parse_args(argv)

    if args.database == "postgres":
        db_url = os.environ.get("SOAK_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432") + "/aitracker_soak"
    else:
        db_url = f"sqlite:///{harness.ROOT / 'bench' / 'db' / 'soak.sqlite3'}"
    print(f"Seeding {args.commitments} commitments x {args.updates_per_commitment} updates ({args.database})…")
    # Always from scratch: the previous soak's publications must not count as this one's.
    harness.seed(db_url, commitments=args.commitments, updates_per_commitment=args.updates_per_commitment, force=True)
    harness.collectstatic(db_url)
    harness.django_snippet(db_url, STAFF)
    facts = json.loads(harness.django_snippet(db_url, PICK).strip().splitlines()[-1])
    paths = pages(facts)

    env = harness.production_env(db_url)
    # As gunicorn.conf.py counts them; given explicitly, start_server waits until every worker is up.
    workers = args.workers or (os.cpu_count() or 1) * 2 + 1
    load_before = harness.load_average()
    token = f"{int(time.time()):x}{random.randrange(16**4):04x}"
    with harness.start_server(db_url, workers=workers, env=env) as server:
        print(f"Serving {server.url} with {workers} workers; {args.seconds} s at concurrency {args.connections}…")
        publisher = subprocess.Popen(
            [
                harness.PYTHON,
                "manage.py",
                "shell",
                "--no-imports",
                "-c",
                PUBLISHER.format(seconds=args.seconds, every=args.publish_every, token=token),
            ],
            cwd=harness.ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            with MemorySamples(server, args.sample_every) as samples:
                wrk = run_wrk(
                    server.url, paths, seconds=args.seconds, connections=args.connections, threads=args.threads
                )
            output, _ = publisher.communicate(timeout=args.publish_every * 4 + 60)
        finally:
            if publisher.poll() is None:
                publisher.send_signal(signal.SIGTERM)
                publisher.wait()
        records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        publications = [record for record in records if "error" not in record]
        failures = [record for record in records if "error" in record]
        missing = check_visible(server.url, publications)
        server_log = server.log_tail(200)

    non_2xx_3xx = sum(n for status, n in wrk["statuses"].items() if not 200 <= int(status) < 400)
    socket_errors = sum(wrk["errors"][kind] for kind in ("connect", "read", "write", "timeout"))
    grew = {
        pid: last - first
        for pid, (first, last) in growth(samples).items()
        if last - first > max(GROWTH_LIMIT[0] * first, GROWTH_LIMIT[1])
    }
    verdict = {
        f"zero errors ({non_2xx_3xx} responses outside 2xx/3xx, {socket_errors} socket errors)": not (
            non_2xx_3xx or socket_errors
        ),
        f"flat memory (no worker grew by more than 10% or {GROWTH_LIMIT[1]:.0f} MiB after the first minute"
        + (f"; grew: {grew}" if grew else "")
        + ")": not grew,
        f"every publication visible ({len(publications)} published, {len(failures)} failed, "
        f"{len(missing)} missing)": bool(publications) and not failures and not missing,
    }
    date = datetime.now(UTC)
    config = {
        "date": f"{date:%Y-%m-%d %H:%M} UTC",
        "database": "PostgreSQL" if args.database == "postgres" else "SQLite",
        "command": f"SOAK_SECONDS={args.seconds}" + (" SOAK_DATABASE=postgres" if args.database == "postgres" else ""),
        "workers": workers,
        "machine": harness.machine(),
        "load_before": load_before,
        "load_after": harness.load_average(),
        "data": f"{facts['count']:,} commitments, seed_synthetic with {args.updates_per_commitment} updates each",
        "connections": args.connections,
        "threads": args.threads,
        "seconds": args.seconds,
        "paths": len(paths),
        "distinct_paths": len(set(paths)),
        "publish_every": args.publish_every,
    }
    text = report(config, wrk, samples, publications, failures, missing, verdict)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"soak-{date:%Y-%m-%d}-{args.database}.md"
    path.write_text(text)
    print(text)
    print(f"Written to {path.relative_to(harness.ROOT)}")
    if not all(verdict.values()):
        print("Server log (last lines):\n" + server_log)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
