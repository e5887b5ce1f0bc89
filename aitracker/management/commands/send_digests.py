"""`manage.py send_digests [--day YYYY-MM-DD]`: queue the daily digests, and forget unconfirmed addresses.

Run once a day, after midnight UTC (cron or a systemd timer: see the README). Each address with a confirmed daily
subscription gets one job (aitracker.tasks.send_digest) for the day before (or --day); the worker sends it, once
(an address that had nothing that day gets nothing). Running it twice for the same day sends nothing twice.
It also deletes the subscriptions nobody confirmed within AITRACKER_CONFIRM_DAYS, and the addresses left with
none, as the privacy page promises.
"""

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from aitracker import services, tasks


class Command(BaseCommand):
    help = "Queue yesterday's daily digests (or --day's) and delete addresses nobody confirmed in time."

    def add_arguments(self, parser):
        parser.add_argument("--day", help="The day (UTC) whose updates to send, YYYY-MM-DD; default: yesterday.")

    def handle(self, *args, day=None, **options):
        if day:
            try:
                on = datetime.date.fromisoformat(day)
            except ValueError:
                raise CommandError(f"--day must be a date like 2026-12-01, not {day!r}") from None
        else:
            on = timezone.now().date() - datetime.timedelta(days=1)
        queued = tasks.enqueue_digests(day=on)
        purged = services.subscribers_purge_unconfirmed()
        self.stdout.write(f"Queued {queued} digest(s) for {on.isoformat()}; deleted {purged} unconfirmed address(es).")
