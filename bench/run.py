"""The benchmark of issue 16 ("every page fast"): `make bench`, or `.venv/bin/python -m bench.run --help`.

Seeds a large (10,000 commitments x 30 updates) and a huge (100,000 x 30) database, serves each with the
production server (gunicorn, DJANGO_DEBUG=0) on a free port of 127.0.0.1 in three modes (hit: page cache on;
miss: page cache off, the other caches on; cold: every cache off), drives every page with wrk at a fixed
concurrency for a fixed time, then crawls 5,000 distinct valid URLs once each with production settings, and
prints the tables and issue 16's targets; the same report goes to bench/results/.
See bench/README.md for what each column means and for the findings.
"""

import argparse
import json
import math
import os
import signal
import statistics
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import harness

RESULTS = harness.ROOT / "bench" / "results"
SIZES = {"small": 1_000, "large": 10_000, "huge": 100_000}
DEFAULT_SIZES = "large,huge"
UPDATES_PER_COMMITMENT = 30
PER_PAGE = 25
SEED_TARGET_SECONDS = 300  # seed_synthetic: 100,000 x 30 on SQLite in under five minutes

# The server modes: the cache settings each runs with (on top of production_env).
MODES = {
    # Page cache on, as in production: a page seen before.
    "hit": {},
    # A URL not seen before: no page cache, but the kept counts and the shared fragments as in production.
    "miss": {"AITRACKER_PAGE_CACHE_SECONDS": "0"},
    # The first request after a publication cleared everything: every cache off.
    "cold": {
        "AITRACKER_PAGE_CACHE_SECONDS": "0",
        "AITRACKER_SUMMARY_CACHE_SECONDS": "0",
        "AITRACKER_FRAGMENT_CACHE_SECONDS": "0",
    },
}
# Issue 16's targets, as shares of /healthz on the same server.
TARGET_MISS_PAGE, TARGET_MISS_API, TARGET_COLD, TARGET_HIT = 0.15, 0.25, 0.08, 0.80
TARGET_CRAWL_P99_MS, TARGET_CRAWL_RSS_MIB, TARGET_GROWTH = 250, 150, 0.20
# A server is idle (what a load left queued is worked off) once its workers used no CPU for this long.
IDLE_QUIET = 0.3


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    html: bool = True  # a public page, served from the page cache when it is on: measured in every mode
    admin: bool = False
    target: str = ""  # "page": issue 16's miss and cold targets for pages; "api": the API lists' miss target


def mode_env(mode: str, args) -> dict[str, str]:
    env = dict(MODES[mode])
    if mode == "hit":
        env["AITRACKER_PAGE_CACHE_SECONDS"] = str(args.cache_seconds)
    return env


def database_urls(kind: str, sizes: list[str], db_dir: Path) -> dict[str, str]:
    if kind == "postgres":
        base = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
        return {size: f"{base}/aitracker_bench_{size}" for size in sizes}
    return {size: f"sqlite:///{db_dir / f'{size}.sqlite3'}" for size in sizes}


_PICK = """
import json
from django.db.models import Count, Q
from aitracker.models import Commitment, Instrument, Party, Theme
# The commitment with the most published updates among those that bind every signatory (most do), so that
# the page shows the same things at both sizes.
commitment = (
    Commitment.objects.public()
    .filter(parties=None)
    # The published updates of these (public) commitments, counted on the join: `updates__in=public` is a
    # subquery over every update in the aggregate's FILTER, which PostgreSQL ran for over ten minutes at 100,000.
    .annotate(n=Count("updates", filter=Q(updates__state="published", updates__deleted_at__isnull=True)))
    .order_by("-n", "pk")
    .values("slug", "n")
    .first()
)
parties = list(Party.objects.annotate(n=Count("endorsements")).order_by("-n", "slug").values("slug", "n")[:3])
party = parties[0]
# The instrument with the most parties: the biggest map.
instrument = Instrument.objects.annotate(n=Count("endorsements")).order_by("-n", "slug").values("slug", "n").first()
theme = Theme.objects.order_by("name").values_list("slug", flat=True).first()
print(json.dumps({
    "commitment": commitment["slug"], "commitment_updates": commitment["n"],
    "party": party["slug"], "party_endorsements": party["n"],
    "compare": ",".join(p["slug"] for p in parties),
    "instrument": instrument["slug"], "instrument_parties": instrument["n"],
    "theme": theme, "public_commitments": Commitment.objects.public().count(),
}))
"""


def pick_pages(db_url: str) -> tuple[list[Page], dict]:
    """The pages to measure in this database: the commitment with the most published updates (30), the
    party that endorsed the most instruments, the middle (deepest) and the last page of the table."""
    facts = json.loads(harness.django_snippet(db_url, _PICK).strip().splitlines()[-1])
    last_page = max(1, math.ceil(facts["public_commitments"] / PER_PAGE))
    pages = [
        Page("/healthz (baseline)", "/healthz", html=False),
        Page("dashboard", "/", target="page"),
        Page("table, first page", "/commitments/", target="page"),
        Page(
            "table, filtered + sorted",
            f"/commitments/?status=in_progress&theme={facts['theme']}&sort=-last_update_on",
            target="page",
        ),
        # The middle page walks past the most keys (a page in the second half is read from the end).
        Page("table, deep page", f"/commitments/?page={max(1, last_page // 2)}", target="page"),
        Page("table, last page", f"/commitments/?page={last_page}", target="page"),
        Page(
            f"commitment ({facts['commitment_updates']} updates)", f"/commitments/{facts['commitment']}/", target="page"
        ),
        Page("party", f"/parties/{facts['party']}/", target="page"),
        Page(
            f"instrument + map ({facts['instrument_parties']} parties)",
            f"/instruments/{facts['instrument']}/",
            target="page",
        ),
        Page("compare (3 parties)", f"/compare/?parties={facts['compare']}"),
        Page("parties table", "/parties/"),
        Page("updates, published in 30 days", "/updates/?published=last_30_days&sort=-published_at"),
        Page("Atom feed", "/feeds/updates.atom", target="page"),
        Page("CSV export, full", "/commitments/?_export=csv", html=False),
        # The read API's lists (a page of 50) and the data package, from the same cache as the pages.
        Page("API commitments", "/api/v1/commitments/", target="api"),
        Page(
            "API commitments, filtered",
            f"/api/v1/commitments/?status=in_progress&theme={facts['theme']}",
            target="api",
        ),
        Page("API updates", "/api/v1/updates/", target="api"),
        Page("API parties", "/api/v1/parties/", target="api"),
        Page("API endorsements", f"/api/v1/endorsements/?instrument={facts['instrument']}", target="api"),
        Page("data package", "/data/datapackage.json"),
        Page("admin changelist (peer)", "/admin/aitracker/commitment/", html=False, admin=True),
    ]
    return pages, facts


# The crawler's URLs, read from the database: only valid values, only pages that exist. Run in a Django
# process with sys.argv[1] = {"n": …, "seed": …, "per_page": …}; prints a JSON list of paths.
_CRAWL_URLS = r"""
import json, math, random, sys
from urllib.parse import urlencode
from aitracker.filters import CommitmentFilter
from aitracker.models import Commitment, Instrument, Party, Status, Theme
from aitracker.tables import CommitmentTable

options = json.loads(sys.argv[1])
rng = random.Random(options["seed"])
per_page, wanted = options["per_page"], options["n"]
public = Commitment.objects.public()
commitments = list(public.order_by("pk").values_list("slug", flat=True))
instruments = list(Instrument.objects.public().order_by("pk").values_list("slug", flat=True))
parties = list(Party.objects.public().order_by("pk").values_list("slug", flat=True))
themes = list(Theme.objects.public().order_by("pk").values_list("slug", flat=True))
statuses = list(Status.values)
# orderable None: as the table, which sorts by every column.
sorts = [name for name, column in CommitmentTable.base_columns.items() if column.orderable is not False]
# Search words: from the titles of the first 200 commitments, letters only.
titles = public.order_by("pk").values_list("title", flat=True)[:200]
words = sorted({w.strip(".,;:()").lower() for title in titles for w in title.split() if len(w) > 4 and w.isalpha()})


def table_params():
    # A random combination of filters: each one with some probability, at least one most of the time.
    params = {}
    if rng.random() < 0.5:
        params["status"] = rng.choice(statuses)
    if rng.random() < 0.35:
        params["theme"] = rng.choice(themes)
    if rng.random() < 0.25:
        params["instrument"] = rng.choice(instruments)
    if rng.random() < 0.2:
        params["party"] = rng.choice(parties)
    if rng.random() < 0.15:
        params["stale"] = rng.choice(["yes", "no"])
    if words and rng.random() < 0.1:
        params["q"] = rng.choice(words)
    return params


counts = {}


def count(params):
    key = tuple(sorted(params.items()))
    if key not in counts:
        filterset = CommitmentFilter(params, queryset=Commitment.objects.public())
        assert filterset.is_valid(), (params, filterset.errors)
        counts[key] = filterset.qs.count()
    return counts[key]


# The table's filter combinations come from a pool, so that counting them stays cheap at any size.
pool = [table_params() for _ in range(max(20, wanted // 25))]
paths, seen = [], set()


def add(path):
    if path not in seen:
        seen.add(path)
        paths.append(path)


total_pages = max(1, math.ceil(len(commitments) / per_page))
attempts = 0
while len(paths) < wanted and attempts < wanted * 50:
    attempts += 1
    kind = rng.random()
    if kind < 0.55:
        params = dict(rng.choice(pool))
        if rng.random() < 0.6:
            params["sort"] = rng.choice(["", "-"]) + rng.choice(sorts)
        pages = max(1, math.ceil(count({k: v for k, v in params.items() if k != "sort"}) / per_page))
        page = rng.choice([1, 1, pages, rng.randint(1, pages)])
        if page > 1:
            params["page"] = page
        add("/commitments/" + ("?" + urlencode(params) if params else ""))
    elif kind < 0.62:
        add(f"/commitments/?page={rng.randint(1, total_pages)}")
    elif kind < 0.85:
        add(f"/commitments/{rng.choice(commitments)}/")
    elif kind < 0.91 and parties:
        add(f"/parties/{rng.choice(parties)}/")
    elif kind < 0.96 and instruments:
        add(f"/instruments/{rng.choice(instruments)}/")
    elif kind < 0.98 and themes:
        add(f"/themes/{rng.choice(themes)}/")
    else:
        api = rng.choice(
            [
                ("/api/v1/commitments/", "status", statuses),
                ("/api/v1/commitments/", "theme", themes),
                ("/api/v1/commitments/", "instrument", instruments),
                ("/api/v1/endorsements/", "instrument", instruments),
                ("/api/v1/updates/", None, None),
                ("/api/v1/parties/", None, None),
            ]
        )
        add(api[0] + (f"?{urlencode({api[1]: rng.choice(api[2])})}" if api[1] else ""))
print(json.dumps(paths))
"""


def crawl_paths(db_url: str, n: int, seed: int) -> list[str]:
    options = json.dumps({"n": n, "seed": seed, "per_page": PER_PAGE})
    code = "import sys\nsys.argv = ['crawl', " + repr(options) + "]\n" + _CRAWL_URLS
    return json.loads(harness.django_snippet(db_url, code).strip().splitlines()[-1])


@dataclass
class Measurement:
    page: Page
    mode: str  # "hit", "miss", "cold"; "-" for the rows measured once (the export, the admin, the baseline)
    wrk: harness.WrkResult
    peak_mib: float
    growth_mib: float
    queries: int
    baseline_rps: float  # /healthz on the same server just before: the load on a shared machine drifts


def commitments(size: str, args) -> int:
    """The size's commitments, times --scale (1 but for short trials)."""
    return max(1, round(SIZES[size] * args.scale))


def prepare(size: str, db_url: str, args) -> dict:
    print(f"== {size}: {commitments(size, args):,} commitments x {args.updates} updates ({db_url})", flush=True)
    info = harness.seed(
        db_url, commitments=commitments(size, args), updates_per_commitment=args.updates, force=args.reseed
    )
    if info["seeded"]:
        print(f"   seeded in {info['seconds']:.1f} s", flush=True)
    else:
        recorded = info.get("recorded_seconds")
        print(
            "   reusing the seeded database"
            + (f" (seeded earlier in {recorded:.1f} s)" if recorded is not None else " (its seed time unknown)"),
            flush=True,
        )
    pages, facts = pick_pages(db_url)
    if args.pages:
        # The baseline always runs: every figure is a share of it.
        wanted = [word.strip() for word in args.pages.split(",") if word.strip()]
        pages = [p for p in pages if p.path == "/healthz" or any(word in p.name for word in wanted)]
    env = harness.production_env(db_url)
    cookie = harness.superuser_session_cookie(db_url, env=env)
    queries = harness.count_queries(db_url, [p.path for p in pages], admin_cookie=cookie, env=env)
    return {
        "db_url": db_url,
        "pages": pages,
        "facts": facts,
        "env": env,
        "cookie": cookie,
        "queries": queries,
        "seed": info,
        "results": [],
    }


def measure(runs: dict, args) -> None:
    """Every size served at once, one server per size and mode; each page measured on every size, in
    alternating rounds (see measure_page). The rows measured in one mode only (the baseline is measured in
    every mode: each mode's shares are of its own /healthz) run in the first mode of the list."""
    first = next(iter(runs.values()))
    for mode in args.modes:
        servers = {}
        try:
            for size, run in runs.items():
                env = dict(run["env"], **mode_env(mode, args))
                servers[size] = harness.start_server(run["db_url"], workers=args.workers, env=env)
                run["workers"] = len(servers[size].worker_pids())
            print(f"\n-- mode {mode}", flush=True)
            for index, page in enumerate(first["pages"]):
                if not page.html and page.path != "/healthz" and mode != args.modes[0]:
                    continue
                measure_page(runs, servers, index, mode if page.html or page.path == "/healthz" else "-", args)
        finally:
            for server in servers.values():
                server.stop()


def combine(results: list[harness.WrkResult]) -> harness.WrkResult:
    """Rounds of one page on one server as one result: throughput over all of them, the median round's p50,
    the worst round's p99, every error."""
    socket_errors = {}
    for result in results:
        for kind, count in result.socket_errors.items():
            socket_errors[kind] = socket_errors.get(kind, 0) + count
    requests, seconds = sum(r.requests for r in results), sum(r.seconds for r in results)
    return harness.WrkResult(
        requests=requests,
        seconds=seconds,
        rps=requests / seconds if seconds else 0.0,
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        non_2xx_3xx=sum(r.non_2xx_3xx for r in results),
        socket_errors=socket_errors,
    )


def measure_page(runs, servers, index, mode, args):
    """One page on every size, in rounds that alternate the order (first size first, then last first, ...),
    each round of the page just after a short /healthz on the same server. Whatever else the machine does
    drifts across all of them alike, rather than falling on one size or on the page but not its baseline."""
    sizes = list(runs)
    pages = {size: runs[size]["pages"][index] for size in sizes}
    # The admin is seen logged in as a superuser, through a session cookie of each database.
    headers = {size: {"Cookie": runs[size]["cookie"]} if pages[size].admin else {} for size in sizes}
    for size in sizes:
        # Warm up: fill each worker's caches (those the mode keeps) and the database's own.
        url = servers[size].url + pages[size].path
        harness.run_wrk(url, seconds=args.warmup, connections=args.connections, headers=headers[size])
        servers[size].wait_idle(quiet=IDLE_QUIET)
        # Counted once they all serve: just after the start, some may still be forking.
        runs[size]["workers"] = max(runs[size].get("workers", 0), len(servers[size].worker_pids()))
    rounds = {size: [] for size in sizes}
    baselines = {size: [] for size in sizes}
    samplers = {size: harness.MemorySampler(servers[size].worker_pids()) for size in sizes}
    for sampler in samplers.values():
        sampler.__enter__()
    try:
        for number in range(args.rounds):
            for size in sizes if number % 2 == 0 else sizes[::-1]:
                server, page = servers[size], pages[size]
                if page.path != "/healthz":
                    healthz = harness.run_wrk(
                        server.url + "/healthz", seconds=args.baseline, connections=args.connections
                    )
                    baselines[size].append(healthz.rps)
                    server.wait_idle(quiet=IDLE_QUIET)
                result = harness.run_wrk(
                    server.url + page.path,
                    seconds=args.seconds / args.rounds,
                    connections=args.connections,
                    headers=headers[size],
                )
                rounds[size].append(result)
                # Requests still queued when wrk stops are worked off before anything else is measured.
                server.wait_idle(quiet=IDLE_QUIET)
    finally:
        for sampler in samplers.values():
            sampler.__exit__(None, None, None)
    counted = "cold" if mode == "-" else mode
    for size in sizes:
        result, memory = combine(rounds[size]), samplers[size]
        baseline = statistics.mean(baselines[size]) if baselines[size] else None
        print(
            f"   {size:<5} {pages[size].name:<32} {mode:<4} {result.rps:8.1f} req/s  p50 {result.p50_ms:7.1f} ms  "
            f"p99 {result.p99_ms:7.1f} ms  errors {result.errors}  peak {memory.peak_mib:.0f} MiB"
            + (f"  (/healthz {baseline:.0f} req/s)" if baseline else ""),
            flush=True,
        )
        runs[size]["results"].append(
            Measurement(
                page=pages[size],
                mode=mode,
                wrk=result,
                peak_mib=memory.peak_mib,
                growth_mib=memory.growth_mib,
                queries=runs[size]["queries"][pages[size].path][counted],
                baseline_rps=baseline or result.rps,
            )
        )


def crawl(runs: dict, args) -> None:
    """On each size in turn, a fresh production server (every cache on, so empty at the start: the locmem
    cache lives in the workers) requested each of --crawler-urls distinct valid URLs once."""
    for size, run in runs.items():
        paths = crawl_paths(run["db_url"], args.crawler_urls, args.crawler_seed)
        env = dict(run["env"], **mode_env("hit", args))
        with harness.start_server(run["db_url"], workers=args.workers, env=env) as server:
            pids = server.worker_pids()
            run["workers"] = max(run.get("workers", 0), len(pids))
            with harness.MemorySampler(pids) as memory:
                result = harness.crawl(server.url, paths, connections=args.connections)
            server.wait_idle(quiet=IDLE_QUIET)
        run["crawl"] = {"result": result, "peak": [memory.peak[pid] for pid in pids]}
        print(
            f"   {size:<5} crawl of {len(paths):,} URLs: {result.rps:.0f} req/s  p50 {result.p50_ms:.1f} ms  "
            f"p99 {result.p99_ms:.1f} ms  errors {result.errors}"
            + (f" (statuses {', '.join(map(str, result.bad_statuses))})" if result.bad_statuses else "")
            + "".join(f", {kind} {count}" for kind, count in result.socket_errors.items() if count)
            + f"  worker peak RSS {', '.join(f'{mib:.0f}' for mib in run['crawl']['peak'])} MiB",
            flush=True,
        )


def share(measurement: Measurement) -> float:
    """Throughput as a fraction of /healthz's on the same server."""
    return measurement.wrk.rps / measurement.baseline_rps if measurement.baseline_rps else 0.0


def _key(measurement: Measurement) -> tuple[str, str]:
    # Pages are matched across sizes by name without the update count in it.
    return measurement.page.name.split(" (")[0], measurement.mode


def _by_key(runs: dict) -> dict[str, dict]:
    return {size: {_key(m): m for m in run["results"]} for size, run in runs.items()}


def build_table(runs: dict) -> tuple[str, list[str]]:
    sizes = list(runs)
    by_key = _by_key(runs)
    ref = runs[sizes[0]]["results"]
    both = " / ".join(sizes)
    grown = f" | {sizes[-1]} vs {sizes[0]}" if len(sizes) > 1 else ""
    header = (
        f"| page | mode | SQL queries {both} | "
        + " | ".join(f"req/s {size}" for size in sizes)
        + f"{grown} | p50 ms {both} | p99 ms {both} | errors {both} | x /healthz {both} | peak worker RSS MiB {both} |"
    )
    columns = 8 + len(sizes) + (1 if len(sizes) > 1 else 0)
    lines = [header, "|" + "---|" * columns]
    notes = []
    for m in ref:
        row = [by_key[size].get(_key(m)) for size in sizes]
        if any(r is None for r in row):
            continue

        def joined(values):
            return " / ".join(values)

        change = ""
        if len(sizes) > 1:
            change = f" | {100 * (row[-1].wrk.rps / m.wrk.rps - 1):+.0f}%" if m.wrk.rps else " | -"
        lines.append(
            f"| {m.page.name} | {m.mode} | {joined(str(r.queries) for r in row)} | "
            + " | ".join(f"{r.wrk.rps:,.0f}" for r in row)
            + f"{change} | {joined(f'{r.wrk.p50_ms:.1f}' for r in row)} | {joined(f'{r.wrk.p99_ms:.1f}' for r in row)} "
            f"| {joined(str(r.wrk.errors) for r in row)} | {joined(f'{share(r):.2f}' for r in row)} "
            f"| {joined(f'{r.peak_mib:.0f}' for r in row)} |"
        )
        if m.page.path.endswith("_export=csv"):
            notes.append(
                "CSV export: worker memory grew by "
                + ", ".join(
                    f"{r.growth_mib:.1f} MiB at {runs[size]['facts']['public_commitments']:,} commitments ({size})"
                    for size, r in zip(sizes, row, strict=True)
                )
                + " at most (from before the run to its peak during it)."
            )
    return "\n".join(lines), notes


def crawl_table(runs: dict, args) -> str:
    lines = [
        "| size | URLs | answered | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | peak RSS MiB of each worker |",
        "|" + "---|" * 10,
    ]
    for size, run in runs.items():
        if "crawl" not in run:
            continue
        r, peak = run["crawl"]["result"], run["crawl"]["peak"]
        # What the errors were: the first statuses other than 2xx, the socket errors, the URLs not answered.
        kinds = [f"status {', '.join(map(str, r.bad_statuses))}"] if r.bad_statuses else []
        kinds += [f"{kind} {count}" for kind, count in r.socket_errors.items() if count]
        if r.urls > r.answered:
            kinds.append(f"unanswered {r.urls - r.answered}")
        errors = f"{r.errors}" + (f" ({'; '.join(kinds)})" if kinds else "")
        lines.append(
            f"| {size} | {r.urls:,} | {r.answered:,} | {r.rps:,.0f} | {r.p50_ms:.1f} | {r.p90_ms:.1f} | {r.p99_ms:.1f} "
            f"| {r.max_ms:.1f} | {errors} | {', '.join(f'{mib:.0f}' for mib in peak)} |"
        )
    return "\n".join(lines)


def check_targets(runs: dict, args) -> list[str]:
    """The targets of issue 16, each with the figures that decide it."""
    sizes = list(runs)
    by_key = _by_key(runs)
    lines = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    def share_check(label: str, mode: str, minimum: float, pick) -> None:
        if mode not in args.modes:
            lines.append(f"- {label}: not measured in this run (mode {mode} left out)")
            return
        rows = [(size, m) for size in sizes for m in runs[size]["results"] if m.mode == mode and pick(m.page)]
        if not rows:
            lines.append(f"- {label}: not measured in this run (no such page in --pages)")
            return
        low = [f"{m.page.name} ({size}) {share(m):.2f}" for size, m in rows if share(m) < minimum]
        worst = min(rows, key=lambda row: share(row[1]))
        lines.append(
            f"- {label}: {verdict(not low)}"
            + (
                f" (below: {'; '.join(low)})"
                if low
                else f" (lowest: {worst[1].page.name} ({worst[0]}) {share(worst[1]):.2f})"
            )
        )

    share_check(
        f"miss ≥ {TARGET_MISS_PAGE:.2f} of /healthz on the table, commitment, party, instrument, dashboard and feed",
        "miss",
        TARGET_MISS_PAGE,
        lambda page: page.target == "page",
    )
    share_check(
        f"miss ≥ {TARGET_MISS_API:.2f} of /healthz on the API lists",
        "miss",
        TARGET_MISS_API,
        lambda page: page.target == "api",
    )
    share_check(
        f"cold ≥ {TARGET_COLD:.2f} of /healthz on the table, commitment, party, instrument, dashboard and feed",
        "cold",
        TARGET_COLD,
        lambda page: page.target == "page",
    )
    share_check(f"hit ≥ {TARGET_HIT:.2f} of /healthz on every public page", "hit", TARGET_HIT, lambda page: page.html)

    # The crawler.
    crawled = [(size, runs[size]["crawl"]) for size in sizes if "crawl" in runs[size]]
    if not crawled:
        lines.append("- Crawler: not run (--no-crawler)")
    else:
        p99 = [f"{size} {c['result'].p99_ms:.0f} ms" for size, c in crawled]
        lines.append(
            f"- Crawler p99 < {TARGET_CRAWL_P99_MS} ms: "
            f"{verdict(all(c['result'].p99_ms < TARGET_CRAWL_P99_MS for _s, c in crawled))} ({', '.join(p99)})"
        )
        errors = [f"{size} {c['result'].errors} of {c['result'].urls:,}" for size, c in crawled]
        lines.append(
            f"- Crawler zero errors: {verdict(all(c['result'].errors == 0 for _s, c in crawled))} ({', '.join(errors)})"
        )
        rss = [f"{size} {max(c['peak'], default=0):.0f} MiB" for size, c in crawled]
        lines.append(
            f"- Crawler worker memory < {TARGET_CRAWL_RSS_MIB} MB each: "
            f"{verdict(all(max(c['peak'], default=0) * 1.048576 < TARGET_CRAWL_RSS_MIB for _s, c in crawled))} "
            f"(largest worker: {', '.join(rss)})"
        )

    # Growth from the first size to the second.
    if len(sizes) < 2 or not runs[sizes[0]]["results"]:
        lines.append("- Growth: not measured (one size only, or no page measured)")
    else:
        first, second = sizes[0], sizes[1]
        drops, unequal = [], []
        for m in runs[first]["results"]:
            other = by_key[second].get(_key(m))
            if other is None or m.page.admin or m.page.path == "/healthz":
                continue
            if m.queries != other.queries and m.page.html:
                unequal.append(f"{m.page.name} ({m.mode}) {m.queries} / {other.queries}")
            # The full export is the data itself: ten times the commitments, ten times the bytes.
            if m.page.path.endswith("_export=csv"):
                continue
            change = other.wrk.rps / m.wrk.rps - 1 if m.wrk.rps else 0
            if change < -TARGET_GROWTH:
                drops.append(f"{m.page.name} ({m.mode}) {100 * change:+.0f}%")
        lines.append(
            f"- {first} → {second}: no page's throughput drops more than {100 * TARGET_GROWTH:.0f}% in any mode "
            f"(the full export excepted): {verdict(not drops)}" + (f" (beyond: {'; '.join(drops)})" if drops else "")
        )
        lines.append(
            f"- {first} → {second}: same SQL queries per public page in every mode: {verdict(not unequal)}"
            + (f" (differs: {'; '.join(unequal)})" if unequal else "")
        )

    # The seed.
    if "huge" not in runs or args.scale != 1 or args.updates != UPDATES_PER_COMMITMENT:
        lines.append("- Seed of 100,000 x 30 under 5 minutes: not measured (the huge size is not in this run)")
    else:
        info = runs["huge"]["seed"]
        where = "" if args.database == "sqlite" else f" (on {args.database}; the target is on SQLite)"
        if info["seeded"]:
            lines.append(
                f"- Seed of 100,000 x 30 under 5 minutes: {verdict(info['seconds'] < SEED_TARGET_SECONDS)} "
                f"({info['seconds']:.0f} s in this run{where})"
            )
        elif info.get("recorded_seconds") is not None:
            lines.append(
                f"- Seed of 100,000 x 30 under 5 minutes: not measured in this run (the database was reused); "
                f"the seed that made it took {info['recorded_seconds']:.0f} s"
                f" ({verdict(info['recorded_seconds'] < SEED_TARGET_SECONDS)}{where})"
            )
        else:
            lines.append(
                "- Seed of 100,000 x 30 under 5 minutes: not measured in this run (the database was reused and "
                "its seed time was not recorded; `--reseed` to measure it)"
            )
    errors = sum(m.wrk.errors for size in sizes for m in runs[size]["results"])
    lines.append(
        f"- Zero errors at concurrency {args.connections} on the measured pages: "
        f"{verdict(errors == 0)} ({errors} errors)"
    )
    return lines


def seed_line(runs: dict) -> str:
    parts = []
    for size, run in runs.items():
        info = run["seed"]
        if info["seeded"]:
            parts.append(f"{size} seeded in this run in {info['seconds']:.1f} s")
        elif info.get("recorded_seconds") is not None:
            parts.append(f"{size} reused (its seed took {info['recorded_seconds']:.1f} s)")
        else:
            parts.append(f"{size} reused (seed time not recorded)")
    return "- Seed (`seed_synthetic`): " + "; ".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres"],
        default=os.environ.get("BENCH_DATABASE", "sqlite"),
        help="SQLite files <size>.sqlite3 under --db-dir (default), or PostgreSQL databases aitracker_bench_<size> "
        "at BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432).",
    )
    parser.add_argument(
        "--sizes",
        default=os.environ.get("BENCH_SIZES", DEFAULT_SIZES),
        help="Comma-separated sizes, the reference first and the grown one second: small (1,000 commitments), "
        f"large (10,000), huge (100,000), each x {UPDATES_PER_COMMITMENT} updates; default {DEFAULT_SIZES}.",
    )
    parser.add_argument(
        "--modes",
        default=os.environ.get("BENCH_MODES", ",".join(MODES)),
        help="Comma-separated server modes: hit (page cache on), miss (page cache off, the kept counts and shared "
        "fragments on), cold (every cache off); default hit,miss,cold.",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=float(os.environ.get("BENCH_SCALE", 1)),
        help="For short trials only: multiply each size's commitments (e.g. 0.1: small 100, large 1,000). "
        "Databases seeded at another scale are seeded again: give trials their own --db-dir.",
    )
    parser.add_argument(
        "--updates",
        type=int,
        default=int(os.environ.get("BENCH_UPDATES", UPDATES_PER_COMMITMENT)),
        help=f"Progress updates per commitment (default {UPDATES_PER_COMMITMENT}; fewer for short trials).",
    )
    parser.add_argument(
        "--db-dir",
        type=Path,
        default=Path(os.environ.get("BENCH_DB_DIR", harness.ROOT / "bench" / "db")),
        help="Where the SQLite files are (default bench/db).",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("BENCH_SECONDS", 4)),
        help="Seconds of load per page, size and mode, split into --rounds rounds (wrk takes whole seconds).",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=int(os.environ.get("BENCH_ROUNDS", 2)),
        help="Rounds per page and mode, alternating the sizes, each after --baseline seconds of /healthz.",
    )
    parser.add_argument("--warmup", type=float, default=float(os.environ.get("BENCH_WARMUP", 1)))
    parser.add_argument("--connections", type=int, default=int(os.environ.get("BENCH_CONNECTIONS", 32)))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY") or 0) or None)
    parser.add_argument("--cache-seconds", type=int, default=600, help="Page cache lifetime in mode hit.")
    parser.add_argument("--reseed", action="store_true", help="Seed again even if the databases look seeded.")
    parser.add_argument(
        "--pages",
        default=os.environ.get("BENCH_PAGES", ""),
        help="Only the pages whose names contain one of these comma-separated words (e.g. 'party,compare'); "
        "the /healthz baseline always runs.",
    )
    parser.add_argument(
        "--baseline",
        type=float,
        default=float(os.environ.get("BENCH_BASELINE", 1)),
        help="Seconds of /healthz on the same server before each round of a page: its share of /healthz uses "
        "their mean.",
    )
    parser.add_argument(
        "--crawler",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("BENCH_CRAWLER", "1") != "0",
        help="After the pages, crawl --crawler-urls distinct valid URLs once each on each size (default on).",
    )
    parser.add_argument("--crawler-urls", type=int, default=int(os.environ.get("BENCH_CRAWLER_URLS", 5000)))
    parser.add_argument("--crawler-seed", type=int, default=1, help="Seed of the crawler's random URL list.")
    parser.add_argument(
        "--only-crawler", action="store_true", help="Skip the per-page measurements: seed, then crawl only."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="A short trial: 2 s per page in 2 rounds, 1 s baseline and warm-up, 500 crawler URLs (unless given).",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds, args.baseline, args.warmup = 2, 2, 1, 1
        if "BENCH_CRAWLER_URLS" not in os.environ and "--crawler-urls" not in (argv or sys.argv):
            args.crawler_urls = 500
    sizes = [size.strip() for size in args.sizes.split(",") if size.strip()]
    args.modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    for size in sizes:
        if size not in SIZES:
            parser.error(f"unknown size {size!r} (choose among {', '.join(SIZES)})")
    for mode in args.modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode!r} (choose among {', '.join(MODES)})")
    if not sizes or not args.modes:
        parser.error("at least one size and one mode")
    # Stopped from outside (timeout, kill): still stop the servers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = datetime.now(UTC)
    load_before = harness.load_average()
    print(f"aitracker benchmark on {args.database}; load average before: {load_before}", flush=True)
    urls = database_urls(args.database, sizes, args.db_dir)
    harness.collectstatic(urls[sizes[0]])
    runs = {size: prepare(size, urls[size], args) for size in sizes}
    if not args.only_crawler:
        measure(runs, args)
    if args.crawler:
        print(f"\n-- crawler: {args.crawler_urls:,} distinct URLs once each, production settings", flush=True)
        crawl(runs, args)
    load_after = harness.load_average()
    table, notes = build_table(runs) if not args.only_crawler else ("", [])
    targets = check_targets(runs, args)
    host = harness.machine()
    workers = max(run.get("workers", 0) for run in runs.values()) or "?"
    facts = runs[sizes[-1]]["facts"]
    heading = [
        f"# aitracker benchmark, {started:%Y-%m-%d %H:%M} UTC, {args.database}",
        "",
        f"- Machine: {host['cpu']}, {host['cores']} cores, {host['ram_gib']} GiB RAM ({host['hostname']})",
        f"- Database: {args.database} ("
        + ", ".join(f"{size}: {commitments(size, args):,}" for size in sizes)
        + f" commitments, {args.updates} updates each)",
        seed_line(runs),
        f"- Server: gunicorn, {workers} sync workers, DJANGO_DEBUG=0; load: wrk, {args.connections} connections, "
        f"{args.seconds:g} s per page, size and mode after {args.warmup:g} s of warm-up, in {args.rounds} rounds "
        f"that alternate the sizes, each round after {args.baseline:g} s of /healthz on the same server (the "
        "baseline of its share: their mean)",
        f"- Modes: {', '.join(args.modes)}; crawler: "
        + (f"{args.crawler_urls:,} URLs (seed {args.crawler_seed})" if args.crawler else "off"),
        f"- Load average (1, 5, 15 min): {load_before} before, {load_after} after",
        f"- Pages: commitment `{facts['commitment']}`, party `{facts['party']}` "
        f"({facts['party_endorsements']} endorsements) in the {sizes[-1]} database",
        "",
        "Modes: **hit**, the page cache on as in production (a page seen before); **miss**, "
        "`AITRACKER_PAGE_CACHE_SECONDS=0` with the kept counts (`AITRACKER_SUMMARY_CACHE_SECONDS`) and the shared "
        "fragments (`AITRACKER_FRAGMENT_CACHE_SECONDS`) as in production (a URL not seen before); **cold**, all "
        "three at 0 (the first request after a publication cleared everything). The export and the admin "
        "are measured once (`-`, in the first mode's server), /healthz in every mode. SQL queries: those of a "
        "request in "
        "that mode (cold: from nothing; miss and hit: the second request), through the test client. "
        "x /healthz: throughput as a fraction of /healthz's on the same server just before.",
        "",
    ]
    crawl_part = []
    if args.crawler:
        crawl_part = [
            "Crawler: each URL once (filters, sorts and pages of the table, commitment, party, instrument and theme "
            f"pages, API lists), {args.connections} at a time, on a fresh server with production settings (every "
            "cache on and empty at the start). Errors: answers other than 2xx, socket errors, URLs not answered.",
            "",
            crawl_table(runs, args),
            "",
        ]
    report = "\n".join([*heading, table, "", *notes, "", *crawl_part, "Targets (issue 16):", *targets, ""])
    print("\n" + report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{started:%Y-%m-%d}-{host['hostname']}-{args.database}.md"
    path.write_text(report)
    print(f"Written to {path.relative_to(harness.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
