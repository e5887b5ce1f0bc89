import json
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test.utils import override_settings

from aitracker import services
from aitracker.i18n import other_languages
from aitracker.models import Instrument
from aitracker.search import search_index_rebuild

FIXTURES = ["themes", "instruments", "parties", "endorsements", "commitments", "updates", "official_texts"]


class Command(BaseCommand):
    help = (
        "Load the real data from fixtures/ into an empty database (does nothing if instruments exist, so an "
        "editor's work is never overwritten), record it in the history, and compute current statuses."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Load even if the database already has data.")

    def handle(self, *args, force=False, **options):
        if Instrument.objects.exists() and not force:
            self.stdout.write("The database already holds data; not loading the fixtures (use --force).")
            return
        paths = [str(Path(settings.BASE_DIR) / "fixtures" / f"{name}.json") for name in FIXTURES]
        with transaction.atomic():
            # Loading is one event: each row gets exactly one initial history entry below, rather than the
            # partial entries that loading many-to-many relations would otherwise leave.
            with override_settings(SIMPLE_HISTORY_ENABLED=False):
                call_command("loaddata", *paths, verbosity=0)
                translated = self.load_translations()
                changed = services.commitments_refresh_all()
                # Fixtures carry the Markdown, not its HTML: render it as the services do on every save.
                services.progress_updates_rerender()
                entries = search_index_rebuild()
            call_command("populate_history", "--auto", verbosity=0)
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded the real data ({Instrument.objects.count()} instruments); "
                f"{changed} current statuses recomputed; {translated} translated fields; {entries} search entries."
            )
        )

    def load_translations(self) -> int:
        """fixtures/translations/<lang>.json for each translated language: a missing file is skipped (its
        fields show their English text, marked), a file naming an unknown model, record or field is refused."""
        written = 0
        for language in other_languages():
            path = Path(settings.BASE_DIR) / "fixtures" / "translations" / f"{language}.json"
            if not path.exists():
                continue
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                written += services.content_translations_load(language=language, data=data, rerender=False)
            except (ValueError, services.TranslationFileError) as error:
                raise CommandError(f"{path.relative_to(settings.BASE_DIR)}: {error}") from error
        return written
