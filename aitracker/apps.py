from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AitrackerConfig(AppConfig):
    name = "aitracker"
    verbose_name = _("AI pledge tracker")
