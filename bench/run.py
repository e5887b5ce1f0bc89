"""The benchmark: `make bench`, or `.venv/bin/python -m bench.run --help`.

Seeds a small (1,000 commitments x 30 updates) and a large (10,000 x 30) database, serves each with the
production server (gunicorn, DJANGO_DEBUG=0) on a free port of 127.0.0.1, drives every page with wrk at a
fixed concurrency for a fixed time, and prints one table; the same table goes to bench/results/.
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

from bench import harness

RESULTS = harness.ROOT / "bench" / "results"
SIZES = {"small": 1_000, "large": 10_000}
UPDATES_PER_COMMITMENT = 30
PER_PAGE = 25


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    html: bool = True  # served from the page cache when it is on
    admin: bool = False


def database_urls(kind: str) -> dict[str, str]:
    if kind == "postgres":
        base = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
        return {size: f"{base}/aitracker_bench_{size}" for size in SIZES}
    return {size: f"sqlite:///{harness.ROOT / 'bench' / 'db' / f'{size}.sqlite3'}" for size in SIZES}


_PICK = """
import json
from django.db.models import Count, Q
from aitracker.models import Commitment, Instrument, Party, ProgressUpdate, Theme
public = ProgressUpdate.objects.public()
# The commitment with the most published updates among those that bind every signatory (most do), so that
# the page shows the same things at both sizes.
commitment = (
    Commitment.objects.public()
    .filter(parties=None)
    .annotate(n=Count("updates", filter=Q(updates__in=public)))
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
    party that endorsed the most instruments, the last page of the table."""
    facts = json.loads(harness.django_snippet(db_url, _PICK).strip().splitlines()[-1])
    last_page = max(1, math.ceil(facts["public_commitments"] / PER_PAGE))
    pages = [
        Page("/healthz (baseline)", "/healthz", html=False),
        Page("dashboard", "/"),
        Page("table, first page", "/commitments/"),
        Page(
            "table, filtered + sorted", f"/commitments/?status=in_progress&theme={facts['theme']}&sort=-last_update_on"
        ),
        Page("table, last page", f"/commitments/?page={last_page}"),
        Page(f"commitment ({facts['commitment_updates']} updates)", f"/commitments/{facts['commitment']}/"),
        Page("party", f"/parties/{facts['party']}/"),
        Page(f"instrument + map ({facts['instrument_parties']} parties)", f"/instruments/{facts['instrument']}/"),
        Page("compare (3 parties)", f"/compare/?parties={facts['compare']}"),
        Page("parties table", "/parties/"),
        Page("updates, published in 30 days", "/updates/?published=last_30_days&sort=-published_at"),
        Page("Atom feed", "/feeds/updates.atom"),
        Page("CSV export, full", "/commitments/?_export=csv", html=False),
        # The read API's lists (a page of 50) and the data package, from the same cache as the pages.
        Page("API commitments", "/api/v1/commitments/"),
        Page("API commitments, filtered", f"/api/v1/commitments/?status=in_progress&theme={facts['theme']}"),
        Page("API updates", "/api/v1/updates/"),
        Page("API parties", "/api/v1/parties/"),
        Page("API endorsements", f"/api/v1/endorsements/?instrument={facts['instrument']}"),
        Page("data package", "/data/datapackage.json"),
        Page("admin changelist (peer)", "/admin/aitracker/commitment/", html=False, admin=True),
    ]
    return pages, facts


@dataclass
class Measurement:
    page: Page
    cached: bool
    wrk: harness.WrkResult
    peak_mib: float
    growth_mib: float
    queries: int
    baseline_rps: float  # /healthz on the same server just before: the load on a shared machine drifts


def prepare(size: str, db_url: str, args) -> dict:
    print(f"== {size}: {SIZES[size]:,} commitments x {UPDATES_PER_COMMITMENT} updates ({db_url})", flush=True)
    info = harness.seed(
        db_url, commitments=SIZES[size], updates_per_commitment=UPDATES_PER_COMMITMENT, force=args.reseed
    )
    print("   seeded in {seconds:.1f} s".format(**info) if info["seeded"] else "   reusing the seeded database")
    pages, facts = pick_pages(db_url)
    if args.pages:
        # The baseline always runs: every figure is a share of it.
        wanted = [word.strip() for word in args.pages.split(",") if word.strip()]
        pages = [p for p in pages if p.path == "/healthz" or any(word in p.name for word in wanted)]
    env = harness.production_env(db_url)
    cookie = harness.superuser_session_cookie(db_url, env=env)
    queries = harness.count_queries(db_url, [p.path for p in pages], admin_cookie=cookie, env=env)
    return {"db_url": db_url, "pages": pages, "facts": facts, "env": env, "cookie": cookie, "queries": queries}


def measure(runs: dict, args) -> None:
    """Both sizes served at once; each page measured on both, in alternating rounds (see measure_page)."""
    for run in runs.values():
        run["results"] = []
    for cached in (True, False):
        servers = {}
        try:
            for size, run in runs.items():
                env = dict(run["env"], AITRACKER_PAGE_CACHE_SECONDS=str(args.cache_seconds if cached else 0))
                servers[size] = harness.start_server(run["db_url"], workers=args.workers, env=env)
                run["workers"] = len(servers[size].worker_pids())
            print(f"\n-- page cache {'on' if cached else 'off'}", flush=True)
            for index, page in enumerate(runs["small"]["pages"]):
                if not cached and not page.html:
                    continue
                measure_page(runs, servers, index, cached and page.html, args)
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


def measure_page(runs, servers, index, cached, args):
    """One page on both sizes, in rounds that alternate the order (small then large, large then small, ...),
    each round of the page just after a short /healthz on the same server. Whatever else the machine does
    drifts across all of them alike, rather than falling on one size or on the page but not its baseline."""
    sizes = list(runs)
    pages = {size: runs[size]["pages"][index] for size in sizes}
    # The admin is seen logged in as a superuser, through a session cookie of each database.
    headers = {size: {"Cookie": runs[size]["cookie"]} if pages[size].admin else {} for size in sizes}
    for size in sizes:
        # Warm up: fill each worker's page cache and the database's own caches.
        url = servers[size].url + pages[size].path
        harness.run_wrk(url, seconds=args.warmup, connections=args.connections, headers=headers[size])
        servers[size].wait_idle()
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
                    server.wait_idle()
                result = harness.run_wrk(
                    server.url + page.path,
                    seconds=args.seconds / args.rounds,
                    connections=args.connections,
                    headers=headers[size],
                )
                rounds[size].append(result)
                # Requests still queued when wrk stops are worked off before anything else is measured.
                server.wait_idle()
    finally:
        for sampler in samplers.values():
            sampler.__exit__(None, None, None)
    label = "cached" if cached else ("uncached" if pages["small"].html else "-")
    for size in sizes:
        result, memory = combine(rounds[size]), samplers[size]
        baseline = statistics.mean(baselines[size]) if baselines[size] else None
        print(
            f"   {size:<5} {pages[size].name:<32} {label:<8} {result.rps:8.1f} req/s  p50 {result.p50_ms:7.1f} ms  "
            f"p99 {result.p99_ms:7.1f} ms  errors {result.errors}  peak {memory.peak_mib:.0f} MiB"
            + (f"  (/healthz {baseline:.0f} req/s)" if baseline else ""),
            flush=True,
        )
        runs[size]["results"].append(
            Measurement(
                page=pages[size],
                cached=cached,
                wrk=result,
                peak_mib=memory.peak_mib,
                growth_mib=memory.growth_mib,
                queries=runs[size]["queries"][pages[size].path]["render"],
                baseline_rps=baseline or result.rps,
            )
        )


def share(measurement: Measurement) -> float:
    """Throughput as a percentage of /healthz's on the same server."""
    return 100 * measurement.wrk.rps / measurement.baseline_rps if measurement.baseline_rps else 0.0


def _key(measurement: Measurement) -> tuple[str, bool]:
    # Pages are matched across sizes by name without the update count in it.
    return measurement.page.name.split(" (")[0], measurement.cached


def build_table(runs: dict) -> tuple[str, list[str]]:
    small, large = runs["small"]["results"], runs["large"]["results"]
    large_by_key = {_key(m): m for m in large}
    header = (
        "| page | cache | SQL queries S / L | req/s S | req/s L | L vs S | p50 ms S / L | p99 ms S / L "
        "| errors S / L | % of /healthz S / L | peak worker RSS MiB S / L |"
    )
    lines = [header, "|" + "---|" * 11]
    notes = []
    for s in small:
        lg = large_by_key[_key(s)]
        cache = "on" if s.cached else ("off" if s.page.html else "-")
        shares = [share(m) for m in (s, lg)]
        change = 100 * (lg.wrk.rps / s.wrk.rps - 1) if s.wrk.rps else 0
        lines.append(
            f"| {s.page.name} | {cache} | {s.queries} / {lg.queries} | {s.wrk.rps:,.0f} | {lg.wrk.rps:,.0f} "
            f"| {change:+.0f}% | {s.wrk.p50_ms:.1f} / {lg.wrk.p50_ms:.1f} | {s.wrk.p99_ms:.1f} / {lg.wrk.p99_ms:.1f} "
            f"| {s.wrk.errors} / {lg.wrk.errors} | {shares[0]:.0f}% / {shares[1]:.0f}% "
            f"| {s.peak_mib:.0f} / {lg.peak_mib:.0f} |"
        )
        if s.page.path.endswith("_export=csv"):
            notes.append(
                f"CSV export of {runs['large']['facts']['public_commitments']:,} commitments: worker memory grew by "
                f"{lg.growth_mib:.1f} MiB at most (from before the run to its peak during it); "
                f"{s.growth_mib:.1f} MiB at {runs['small']['facts']['public_commitments']:,}."
            )
    return "\n".join(lines), notes


def check_targets(runs: dict) -> list[str]:
    """The targets of issue 5, each with the figures that decide it."""
    small, large = runs["small"]["results"], runs["large"]["results"]
    large_by_key = {_key(m): m for m in large}
    lines = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    public = [m for m in small if not m.page.admin and m.page.path != "/healthz"]
    unequal = [m.page.name for m in public if m.queries != large_by_key[_key(m)].queries]
    lines.append(
        f"- Same SQL queries at both sizes on every public page: {verdict(not unequal)}"
        + (f" (differs: {', '.join(unequal)})" if unequal else "")
    )
    drops = []
    for m in small:
        # The full export is the data itself: ten times the commitments, ten times the bytes.
        if m.page.admin or m.page.path == "/healthz" or m.page.path.endswith("_export=csv"):
            continue
        lg = large_by_key[_key(m)]
        change = lg.wrk.rps / m.wrk.rps - 1 if m.wrk.rps else 0
        if change < -0.20:
            drops.append(f"{m.page.name} ({'cached' if m.cached else 'uncached'}) {100 * change:+.0f}%")
    lines.append(
        f"- Large vs small throughput drop ≤ 20% on every page (the full export excepted): {verdict(not drops)}"
        + (f" (beyond: {'; '.join(drops)})" if drops else "")
    )
    for size in ("small", "large"):
        cached_low = [f"{m.page.name} {share(m):.0f}%" for m in runs[size]["results"] if m.cached and share(m) < 50]
        lines.append(
            f"- {size}: every cached public HTML page ≥ 50% of /healthz: {verdict(not cached_low)}"
            + (f" (below: {', '.join(cached_low)})" if cached_low else "")
        )
        uncached_low = [
            f"{m.page.name} {share(m):.0f}%"
            for m in runs[size]["results"]
            if not m.cached
            and m.page.html
            and (
                m.page.path.startswith("/commitments/?") or m.page.path == "/commitments/" or "updates)" in m.page.name
            )
            and share(m) < 15
        ]
        lines.append(
            f"- {size}: uncached table and commitment page ≥ 15% of /healthz: {verdict(not uncached_low)}"
            + (f" (below: {', '.join(uncached_low)})" if uncached_low else "")
        )
    csv_large = next((m for m in large if m.page.path.endswith("_export=csv")), None)
    if csv_large is not None:  # not measured when --pages leaves it out
        lines.append(
            f"- CSV export of the large database grows a worker by < 50 MiB: {verdict(csv_large.growth_mib < 50)} "
            f"({csv_large.growth_mib:.1f} MiB)"
        )
    errors = sum(m.wrk.errors for size in runs for m in runs[size]["results"])
    lines.append(f"- Zero errors at concurrency 32: {verdict(errors == 0)} ({errors} errors)")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres"],
        default=os.environ.get("BENCH_DATABASE", "sqlite"),
        help="SQLite files under bench/db/ (default), or PostgreSQL databases aitracker_bench_small and "
        "aitracker_bench_large at BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432).",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("BENCH_SECONDS", 12)),
        help="Seconds of load per page and size, split into --rounds rounds.",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=int(os.environ.get("BENCH_ROUNDS", 3)),
        help="Rounds per page, alternating the sizes, each after --baseline seconds of /healthz.",
    )
    parser.add_argument("--warmup", type=float, default=float(os.environ.get("BENCH_WARMUP", 1)))
    parser.add_argument("--connections", type=int, default=int(os.environ.get("BENCH_CONNECTIONS", 32)))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY") or 0) or None)
    parser.add_argument("--cache-seconds", type=int, default=600, help="Page cache lifetime when it is on.")
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
        default=float(os.environ.get("BENCH_BASELINE", 1.5)),
        help="Seconds of /healthz on the same server before each round of a page: its share of /healthz uses "
        "their mean.",
    )
    args = parser.parse_args(argv)
    # Stopped from outside (timeout, kill): still stop the servers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = datetime.now(UTC)
    load_before = harness.load_average()
    print(f"aitracker benchmark on {args.database}; load average before: {load_before}", flush=True)
    urls = database_urls(args.database)
    harness.collectstatic(urls["small"])
    runs = {size: prepare(size, urls[size], args) for size in SIZES}
    measure(runs, args)
    load_after = harness.load_average()
    table, notes = build_table(runs)
    targets = check_targets(runs)
    host = harness.machine()
    workers = runs["small"]["workers"]
    heading = [
        f"# aitracker benchmark, {started:%Y-%m-%d %H:%M} UTC, {args.database}",
        "",
        f"- Machine: {host['cpu']}, {host['cores']} cores, {host['ram_gib']} GiB RAM ({host['hostname']})",
        f"- Database: {args.database} (small: {SIZES['small']:,}, large: {SIZES['large']:,} commitments, "
        f"{UPDATES_PER_COMMITMENT} updates each)",
        f"- Server: gunicorn, {workers} sync workers, DJANGO_DEBUG=0; load: wrk, {args.connections} connections, "
        f"{args.seconds:g} s per page and size after {args.warmup:g} s of warm-up, in {args.rounds} rounds that "
        f"alternate the sizes, each round after {args.baseline:g} s of /healthz on the same server (the baseline "
        "of its share: their mean)",
        f"- Load average (1, 5, 15 min): {load_before} before, {load_after} after",
        f"- Pages: commitment `{runs['large']['facts']['commitment']}`, party `{runs['large']['facts']['party']}` "
        f"({runs['large']['facts']['party_endorsements']} endorsements) in the large database",
        "",
        "S = small, L = large, both served at once and measured one after the other, page by page. Cache on: "
        "the page cache as in production. Cache off: `AITRACKER_PAGE_CACHE_SECONDS=0`, every page rendered for "
        "every request; the site-wide counts (commitments per status, per instrument, per theme, per party) stay "
        "kept under the data generation as in production (`cached_summary`, refreshed after every write). SQL "
        "queries are those of a page rendered from nothing, those counts included (a cache hit runs none). "
        "% of /healthz compares with /healthz on the same server just before.",
        "",
    ]
    report = "\n".join([*heading, table, "", *notes, "", "Targets (issue 5):", *targets, ""])
    print("\n" + report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{started:%Y-%m-%d}-{host['hostname']}-{args.database}.md"
    path.write_text(report)
    print(f"Written to {path.relative_to(harness.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
