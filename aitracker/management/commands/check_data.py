from django.core.management.base import BaseCommand, CommandError

from aitracker.data_checks import RULES, check_data


class Command(BaseCommand):
    help = (
        "Check the data a journalist would cite: every published update, endorsement and instrument has a "
        "source; no update cites one address twice; every instrument has commitments; nothing 'confirmed' rests "
        "only on secondary sources; no update is dated in the future; every address is http(s). Exits non-zero "
        "and names each record that breaks a rule."
    )

    def handle(self, *args, **options):
        problems = check_data()
        for problem in problems:
            self.stderr.write(str(problem))
        if problems:
            raise CommandError(f"{len(problems)} problem(s) found by the data check.")
        self.stdout.write(self.style.SUCCESS(f"The data passes all {len(RULES)} checks."))
