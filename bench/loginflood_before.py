"""Settings for `bench/loginflood.py --before`: the production settings as they were before issue 10's hole 9
was closed (Django's PBKDF2 hasher, and axes' lockout per account and address only), to measure the change."""

from aitracker.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
