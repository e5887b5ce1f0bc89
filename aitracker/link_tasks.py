"""Background jobs of the link checker and of readers' suggestions (django.tasks, enqueued on commit by the
services). Each is idempotent: run twice, it does its work once (a source keeps the first archived copy
recorded; a sender is told once, the row claimed by a conditional UPDATE)."""

from django.conf import settings
from django.core.mail import send_mail
from django.tasks import task
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from . import linkcheck, services
from .links import absolute_url
from .models import Source, Suggestion


@task
def check_update_sources(*, update_id: int) -> dict:
    """A newly published update: check its sources' links, and ask the web archive for a copy of each that
    has none (when AITRACKER_ARCHIVE_SUBMIT_URL is set)."""
    sources = Source.objects.public().filter(update_id=update_id)
    report = linkcheck.check_sources(sources)
    archived = 0
    if settings.AITRACKER_ARCHIVE_SUBMIT_URL:
        checker = linkcheck.make_checker()
        for source in sources.filter(archived_url="").order_by("pk"):
            copy = linkcheck.request_archive(source.url, checker=checker)
            if copy:
                services.source_archived_record(source=source, archived_url=copy)
                archived += 1
    return {"addresses": report.addresses, "archived": archived}


@task
def check_all_links() -> list[str]:
    """The periodic pass over every published source (`manage.py check_links` runs it at once)."""
    return linkcheck.check_sources().lines()


@task
def notify_suggestion_sender(*, suggestion_id: int) -> bool:
    """Tell a suggestion's sender what became of it, in the language they wrote in; once."""
    if not services.suggestion_mark_notified(suggestion_id=suggestion_id):
        return False
    suggestion = Suggestion.objects.select_related("commitment", "party").get(pk=suggestion_id)
    language = suggestion.language or settings.LANGUAGE_CODE
    with translation.override(language):
        context = {
            "suggestion": suggestion,
            "site_url": absolute_url(""),
            "methodology_url": absolute_url(reverse("methodology")),  # in the sender's language
        }
        subject = render_to_string("aitracker/email/suggestion_handled_subject.txt", context).strip()
        body = render_to_string("aitracker/email/suggestion_handled.txt", context)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [suggestion.email])
    except Exception:
        # Not sent: give the claim back, so that the job's retry sends it.
        Suggestion.objects.filter(pk=suggestion_id).update(sender_notified_at=None)
        raise
    # Their address was kept only for this message: it goes now.
    services.suggestion_forget_sender(suggestion_id=suggestion_id)
    return True
