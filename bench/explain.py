"""Query plans of the commitments table, for every filter and sort: `python -m bench.explain [--database …]`.

Renders each URL through Django's test client against a benchmark database, and prints every SQL query the
page ran with its time and its plan (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL). Seed the
databases first (make bench does).
"""

import argparse
import json
import os
import subprocess

from bench import harness
from bench.run import database_urls

URLS = [
    "/commitments/",
    "/commitments/?page={last_page}",
    "/commitments/?status=in_progress",
    "/commitments/?theme={theme}",
    "/commitments/?instrument={instrument}",
    "/commitments/?party={party}",
    "/commitments/?stale=yes",
    "/commitments/?stale=no",
    "/commitments/?q=fund",
    "/commitments/?sort=instrument",
    "/commitments/?sort=-reference",
    "/commitments/?sort=title",
    "/commitments/?sort=themes",
    "/commitments/?sort=-current_status",
    "/commitments/?sort=current_progress",
    "/commitments/?sort=-last_update_on",
    "/commitments/?status=in_progress&theme={theme}&sort=-last_update_on",
    "/commitments/?_export=csv",
    "/",
    "/commitments/{commitment}/",
    "/parties/{party}/",
    "/feeds/updates.atom",
]

_EXPLAIN = r"""
import json, math, sys, time
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from aitracker.models import Commitment, Instrument, Party, Theme

facts = {
    "theme": Theme.objects.order_by("name").first().slug,
    "instrument": Instrument.objects.order_by("-adopted_on").first().slug,
    "party": Party.objects.annotate(n=Count("endorsements")).order_by("-n", "slug").first().slug,
    "commitment": Commitment.objects.public().order_by("pk").first().slug,
    "last_page": math.ceil(Commitment.objects.public().count() / 25),
}
client = Client()
for template in json.loads(sys.argv[1]):
    url = template.format(**facts)
    client.get(url)  # warm
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
        if response.streaming:
            for _ in response.streaming_content:
                pass
    total = (time.perf_counter() - started) * 1000
    print(f"\n### {url}  ({response.status_code}, {total:.1f} ms in all, {len(queries)} queries)")
    for query in queries.captured_queries:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        print(f"\n{float(query['time']) * 1000:.1f} ms: {sql[:300]}{'…' if len(sql) > 300 else ''}")
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql)
            else:
                cursor.execute("EXPLAIN QUERY PLAN " + sql)
            for row in cursor.fetchall():
                print("    " + " ".join(str(col) for col in row[-1:]))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--database", choices=["sqlite", "postgres"], default=os.environ.get("BENCH_DATABASE", "sqlite")
    )
    parser.add_argument("--size", choices=["small", "large"], default="large")
    parser.add_argument("urls", nargs="*", help="URL templates (default: the table's filters and sorts, and more)")
    args = parser.parse_args(argv)
    db_url = database_urls(args.database)[args.size]
    env = harness.production_env(db_url, AITRACKER_PAGE_CACHE_SECONDS="0", DJANGO_SETTINGS_MODULE="aitracker.settings")
    code = "import django\ndjango.setup()\n" + _EXPLAIN
    subprocess.run([harness.PYTHON, "-c", code, json.dumps(args.urls or URLS)], cwd=harness.ROOT, env=env, check=True)


if __name__ == "__main__":
    main()
