from django.core.management.base import BaseCommand
from django.db import transaction

from aitracker.cache import public_pages_changed
from aitracker.search import search_index_rebuild


class Command(BaseCommand):
    help = (
        "Rebuild the search index (aitracker/search.py) from the public data, in every language of "
        "settings.LANGUAGES. The services keep it right; run this after loading data by other means."
    )

    def handle(self, *args, **options):
        with transaction.atomic():
            public_pages_changed()
            entries = search_index_rebuild()
        self.stdout.write(self.style.SUCCESS(f"Rebuilt the search index: {entries} entries."))
