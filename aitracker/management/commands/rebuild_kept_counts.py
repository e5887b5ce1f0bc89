"""Count again every count the services keep as data (services.kept_counts_rebuild): after restoring rows by
other means, or after a deployment during which an older version of the site went on writing."""

from django.core.management.base import BaseCommand

from aitracker import services
from aitracker.models import InstrumentStatusCount, PartyStatusCount, StatusChangeCount, ThemeStatusCount


class Command(BaseCommand):
    help = (
        "Count again the counts kept as data: each party's commitments by status, the commitments by status (in "
        "all, by instrument, by theme), the progress chart's months."
    )

    def handle(self, *args, **options):
        services.kept_counts_rebuild()
        self.stdout.write(
            self.style.SUCCESS(
                f"Counted again: {PartyStatusCount.objects.count():,} party status counts, "
                f"{InstrumentStatusCount.objects.count():,} instrument status counts, "
                f"{ThemeStatusCount.objects.count():,} theme status counts, "
                f"{StatusChangeCount.objects.count():,} status change counts."
            )
        )
