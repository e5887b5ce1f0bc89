"""`manage.py check_links`: check every published source's link now, and say what was found.

The periodic run (cron or a systemd timer, see the README) calls this; a newly published update's sources are
checked by a job of their own (aitracker/link_tasks.py)."""

from django.core.management.base import BaseCommand, CommandError

from aitracker import linkcheck


class Command(BaseCommand):
    help = "Check the links of every published source and record what was found."

    def add_arguments(self, parser):
        parser.add_argument("--workers", type=int, default=None, help="parallel checks (default: the setting)")

    def handle(self, *args, workers=None, **options):
        report = linkcheck.check_sources(workers=workers)
        for line in report.lines():
            self.stdout.write(line)
        if report.offline:
            # A non-zero exit: cron mails it, a systemd timer's unit shows it failed.
            raise CommandError("no server answered: check this machine's network and DNS")
