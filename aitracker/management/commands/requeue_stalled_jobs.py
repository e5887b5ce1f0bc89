"""`manage.py requeue_stalled_jobs [--older-than SECONDS]`: put back in the queue the jobs whose worker died.

A db_worker that is killed mid-job leaves the job marked running; nothing else would ever run it again. Jobs
running for longer than AITRACKER_JOB_STALLED_AFTER_SECONDS (15 minutes; no job of ours takes more than seconds)
go back to the queue, and the next worker runs them again, which is safe: every job is idempotent. Run it every
few minutes from cron, and before starting workers (`make run` and `make serve` do).
"""

import datetime

from django.conf import settings
from django.core.management.base import BaseCommand

from aitracker import tasks


class Command(BaseCommand):
    help = "Queue again the background jobs left running by a worker that died."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, default=settings.AITRACKER_JOB_STALLED_AFTER_SECONDS)

    def handle(self, *args, older_than, **options):
        count = tasks.requeue_stalled(older_than=datetime.timedelta(seconds=older_than))
        if count or options["verbosity"] > 1:
            self.stdout.write(f"Queued again {count} stalled job(s).")
