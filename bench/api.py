"""The read API's list endpoints and the data package, at the small size only: `python -m bench.api`.

`make bench` measures them too, among every page and at both sizes; this is the quick run of these pages alone
(seeding the large database takes long on two cores). Same harness, same server as production, page cache on
and off; writes bench/results/<date>-api.md."""

import argparse
import sys
from datetime import UTC, datetime

from bench import harness
from bench.run import SIZES, UPDATES_PER_COMMITMENT, database_urls, pick_pages

API_WORDS = ("API", "data package", "healthz", "table, first page")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    db_url = database_urls(args.database)["small"]
    started = datetime.now(UTC)
    load_before = harness.load_average()
    info = harness.seed(db_url, commitments=SIZES["small"], updates_per_commitment=UPDATES_PER_COMMITMENT)
    harness.collectstatic(db_url)
    pages, _facts = pick_pages(db_url)
    pages = [page for page in pages if any(word in page.name for word in API_WORDS)]
    env = harness.production_env(db_url)
    queries = harness.count_queries(db_url, [page.path for page in pages], env=env)
    rows = []
    for cached in (True, False):
        run_env = dict(env, AITRACKER_PAGE_CACHE_SECONDS="600" if cached else "0")
        with harness.start_server(db_url, workers=args.workers, env=run_env) as server:
            workers = len(server.worker_pids())
            for page in pages:
                harness.run_wrk(server.url + page.path, seconds=1, connections=args.connections)  # warm-up
                result = harness.run_wrk(server.url + page.path, seconds=args.seconds, connections=args.connections)
                rows.append((page, cached, result))
                print(f"{page.name:32} cache {'on ' if cached else 'off'} {result.rps:8.1f} req/s", flush=True)
    load_after = harness.load_average()
    host = harness.machine()
    lines = [
        f"# aitracker API benchmark, {started:%Y-%m-%d %H:%M} UTC, {args.database}, small size",
        "",
        f"- Machine: {host['cpu']}, {host['cores']} cores, {host['ram_gib']} GiB RAM, shared with other work",
        f"- Data: {SIZES['small']:,} commitments x {UPDATES_PER_COMMITMENT} updates "
        f"({'seeded' if info['seeded'] else 'reused'}; `seed_synthetic --seed 1`)",
        f"- Server: gunicorn, {workers} sync workers, DJANGO_DEBUG=0, AITRACKER_API_RATE empty (wrk is one address); "
        f"wrk, {args.connections} connections, {args.seconds:g} s per page after 1 s of warm-up",
        f"- Load average (1, 5, 15 min): {load_before} before, {load_after} after",
        "",
        "| page | path | page cache | req/s | p50 ms | p99 ms | errors | SQL (render / hit) |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for page, cached, result in rows:
        counted = queries.get(page.path, {})
        lines.append(
            f"| {page.name} | `{page.path}` | {'on' if cached else 'off'} | {result.rps:.1f} | {result.p50_ms:.1f} | "
            f"{result.p99_ms:.1f} | {result.errors} | {counted.get('render', '?')} / {counted.get('hit', '?')} |"
        )
    path = harness.ROOT / "bench" / "results" / f"{started:%Y-%m-%d}-api.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
