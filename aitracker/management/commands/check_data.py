from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import get_language_info

from aitracker.data_checks import RULES, check_data, translation_counts


class Command(BaseCommand):
    help = (
        "Check the data a journalist would cite: every published update, endorsement and instrument has a "
        "source; no update cites one address twice; every instrument has commitments; nothing 'confirmed' rests "
        "only on secondary sources; no update is dated in the future; every address is http(s); every text a visitor "
        "reads has its French and Chinese (counts per language are printed). Exits non-zero "
        "and names each record that breaks a rule."
    )

    def handle(self, *args, **options):
        for language, (done, total) in translation_counts().items():
            name = get_language_info(language)["name"]
            self.stdout.write(f"{name} ({language}): {done} of {total} translatable texts translated.")
        problems = check_data()
        for problem in problems:
            self.stderr.write(str(problem))
        if problems:
            raise CommandError(f"{len(problems)} problem(s) found by the data check.")
        self.stdout.write(self.style.SUCCESS(f"The data passes all {len(RULES)} checks."))
