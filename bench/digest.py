"""How long a daily digest to 1,000 subscribers takes: `.venv/bin/python -m bench.digest [--subscribers N]`.

A fresh SQLite database (or DIGEST_DATABASE_URL, e.g. a PostgreSQL database to be emptied) with the real data,
N addresses following one commitment or theme each by daily digest (confirmed), and a day's publications on
them; then `manage.py send_digests` queues one job per address and `manage.py db_worker --batch` (one worker,
or --workers W) sends them through a local SMTP server (aiosmtpd) started here. Measured: the time to queue,
the time until the last message has arrived, messages per second. Writes bench/results/<date>-digest.md.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

SEED = """
import datetime
from django.contrib.auth.models import User
from django.utils import timezone
from aitracker import services
from aitracker.models import Commitment, ProgressUpdate, Subscriber, Subscription
from tests import factories

count = {count}
editor = factories.make_editor(username="bench-editor")
commitments = list(Commitment.objects.public().order_by("pk"))
yesterday = timezone.now() - datetime.timedelta(days=1)
for n, commitment in enumerate(commitments[:10]):
    update = factories.make_update(commitment=commitment, state="submitted", summary=f"Benchmark news {{n}}.")
    services.progress_update_publish(update=update, editor=editor, now=yesterday)
now = timezone.now()
subscribers = Subscriber.objects.bulk_create(
    Subscriber(email=f"reader{{n}}@example.org", key=f"bench-key-{{n}}", language="en") for n in range(count)
)
rows = []
for n, subscriber in enumerate(subscribers):
    commitment = commitments[n % 10]
    target = {{"commitment": commitment}} if n % 2 else {{"instrument": commitment.instrument}}
    rows.append(Subscription(subscriber=subscriber, frequency="daily", confirmed_at=now, **target))
Subscription.objects.bulk_create(rows)
from django_tasks_db.models import DBTaskResult
DBTaskResult.objects.all().delete()
print("seeded", count)
"""


class Counter:
    def __init__(self):
        self.count = 0
        self.last = None

    async def handle_DATA(self, server, session, envelope):
        self.count += len(envelope.rcpt_tos)
        self.last = time.perf_counter()
        return "250 OK"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    counter = Counter()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    folder = Path(tempfile.mkdtemp(prefix="aitracker-digest-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_")}
    database = os.environ.get("DIGEST_DATABASE_URL") or f"sqlite:///{folder / 'db.sqlite3'}"
    env.update(DATABASE_URL=database, EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(port), EMAIL_USE_TLS="0",
               AITRACKER_SITE_URL="https://aitracker.example.org", DJANGO_DEBUG="1")  # fmt: skip

    def manage(*command):
        return subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True,
                              capture_output=True, text=True)  # fmt: skip

    try:
        manage("migrate", "-v0")
        manage("load_real_data", "-v0")
        manage("shell", "-c", SEED.format(count=args.subscribers))
        started = time.perf_counter()
        queued_output = manage("send_digests").stdout.strip()
        queued = time.perf_counter() - started
        worker = [sys.executable, "manage.py", "db_worker", "--batch", "--no-reload", "--no-startup-delay",
                  "--interval", "0", "--queue-name", "*", "-v0"]  # fmt: skip
        workers = [subprocess.Popen(worker, cwd=ROOT, env=env) for _ in range(args.workers)]
        for process in workers:
            process.wait()
        total = (counter.last or time.perf_counter()) - started
    finally:
        controller.stop()
    vendor = "PostgreSQL" if database.startswith("postgres") else "SQLite"
    line = (f"| {args.subscribers} | {args.workers} | {vendor} | {queued:.1f} s | {total:.1f} s | "
            f"{counter.count} | {counter.count / total:.0f}/s |")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC).date().isoformat()}-digest.md"
    if not path.exists():
        path.write_text(
            "# Daily digest to N subscribers (bench/digest.py)\n\n"
            "Real data plus N confirmed daily subscribers (half following one of 10 commitments, half its instrument), "
            "10 updates published the day before; `send_digests` queues one job per address, `db_worker --batch` "
            "sends each through SMTP to a local aiosmtpd server. Time from the start of `send_digests` (including "
            "its Django start-up, about 1-3 s here) to the last message received. Two cores shared with seven "
            "other engineers' test runs: an upper bound.\n\n"
            "| subscribers | workers | database | queue (send_digests) | all messages received | messages | "
            "rate |\n|---|---|---|---|---|---|---|\n"
        )
    with path.open("a") as out:
        out.write(line + "\n")
    print(queued_output)
    print(line)
    return 0 if counter.count == args.subscribers else 1


if __name__ == "__main__":
    sys.exit(main())
