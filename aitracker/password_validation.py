"""A password validator Django does not ship: the username, repeated or joined by separators.

Django's UserAttributeSimilarityValidator compares the whole password with the username, so `erin-erin-erin`
(similarity 0.44 to `erin`) passes it, yet it is the first thing anyone guessing would try.
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

_NOT_A_LETTER_OR_DIGIT = re.compile(r"[\W_]+")


def _letters_and_digits(value: str) -> str:
    return _NOT_A_LETTER_OR_DIGIT.sub("", value).casefold()


class UsernameRepeatedValidator:
    """Refuses a password that is nothing but the username, once or repeated, in any case, with any
    separators (spaces, dots, dashes, underscores, punctuation) between or around the repeats."""

    def validate(self, password, user=None):
        username = _letters_and_digits(getattr(user, "get_username", lambda: "")() or "") if user else ""
        if not username:
            return
        rest = _letters_and_digits(password)
        if rest and len(rest) % len(username) == 0 and rest == username * (len(rest) // len(username)):
            raise ValidationError(
                _("This password is made of your username. Choose one that has nothing to do with it."),
                code="password_is_username",
            )

    def get_help_text(self):
        return _("Your password can't be made of your username, repeated or with separators.")
