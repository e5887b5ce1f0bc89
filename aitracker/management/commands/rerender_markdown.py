from django.core.management.base import BaseCommand

from aitracker import services


class Command(BaseCommand):
    help = (
        "Render every progress update's Markdown summary again into its stored, sanitised HTML. Run it after "
        "changing the Markdown or sanitiser rules (aitracker/rendering.py); pages only ever show the stored HTML."
    )

    def handle(self, *args, **options):
        changed = services.progress_updates_rerender()
        self.stdout.write(self.style.SUCCESS(f"Rendered the summaries again: {changed} changed."))
