"""Compile the translation catalogues (locale/<lang>/LC_MESSAGES/django.po -> django.mo) with polib, a
dependency of the project: no GNU gettext needed. The .mo files are committed, so a fresh clone has them; this
command (run by `make messages`) makes them again after a .po changed, and tests/test_i18n_catalogue.py checks that
the committed ones are what it gives."""

from pathlib import Path

import polib
from django.conf import settings
from django.core.management.base import BaseCommand


def catalogues() -> list[Path]:
    """Every .po file of the project's own catalogues."""
    found = []
    for locale_path in settings.LOCALE_PATHS:
        found += sorted(Path(locale_path).glob("*/LC_MESSAGES/*.po"))
    return found


def compiled(po_path: Path) -> bytes:
    """The .mo a .po compiles to (translated entries only: fuzzy and obsolete ones are left out)."""
    return polib.pofile(str(po_path)).to_binary()


class Command(BaseCommand):
    help = "Compile locale/*/LC_MESSAGES/*.po into .mo files with polib (no GNU gettext needed)."

    def handle(self, *args, **options):
        for po_path in catalogues():
            mo_path = po_path.with_suffix(".mo")
            data = compiled(po_path)
            if mo_path.exists() and mo_path.read_bytes() == data:
                continue
            mo_path.write_bytes(data)
            self.stdout.write(f"compiled {mo_path.relative_to(settings.BASE_DIR)}")
