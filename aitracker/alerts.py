"""E-mail alerts: who is told about a change, the signed links in every message, and sending one message once.

Messages are built and sent by the worker only (aitracker/tasks.py), in the subscriber's language, as plain text
with an HTML alternative (templates/aitracker/email/). Every message but the confirmation carries RFC 8058's
one-click unsubscribe headers and a link to the page where the address manages what it follows.

Links carry a token signed with the secret key (`django.core.signing`, one salt per purpose) that names the
subscriber and holds its random key: it cannot be guessed, altered to name another address, or used once the
address has been deleted (a new subscription of the same address gets a new key).
"""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .i18n import hreflang
from .models import AlertDelivery, ProgressUpdate, Subscriber, Subscription
from .templatetags.aitracker_tags import display_date

CONFIRM_SALT = "aitracker.follow.confirm"
UNSUBSCRIBE_SALT = "aitracker.follow.unsubscribe"
MANAGE_SALT = "aitracker.follow.manage"

PUBLISHED = "published"
CORRECTED = "corrected"


class BadLink(Exception):
    """A follow link that cannot be used; its message says why, in words a visitor understands."""


class AddressGone(BadLink):
    """A genuine link (correctly signed) whose address has since been deleted: it was unsubscribed already."""


# --- Tokens --------------------------------------------------------------------------------------------------


def _sign(payload: dict, salt: str) -> str:
    return signing.dumps(payload, salt=salt, compress=True)


def confirm_token(subscription: Subscription, frequency: str) -> str:
    return _sign({"s": subscription.subscriber_id, "k": subscription.subscriber.key, "i": subscription.pk,
                  "f": frequency}, CONFIRM_SALT)  # fmt: skip


def unsubscribe_token(subscriber: Subscriber, subscription_ids) -> str:
    return _sign({"s": subscriber.pk, "k": subscriber.key, "i": sorted(subscription_ids)}, UNSUBSCRIBE_SALT)


def manage_token(subscriber: Subscriber) -> str:
    return _sign({"s": subscriber.pk, "k": subscriber.key}, MANAGE_SALT)


def read_token(token: str, salt: str, *, max_age=None) -> tuple[Subscriber, dict]:
    """The subscriber a token names and its payload; BadLink if it is forged, expired or its address is gone."""
    if len(token) > 1000:
        raise BadLink(_("This link is not valid. Copy the whole link from the message."))
    try:
        payload = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        raise BadLink(
            _("This confirmation link has expired. Ask to follow again and use the new link within %(days)s days.")
            % {"days": settings.AITRACKER_CONFIRM_DAYS}
        ) from None
    except signing.BadSignature:
        raise BadLink(_("This link is not valid. Copy the whole link from the message.")) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), int):
        raise BadLink(_("This link is not valid. Copy the whole link from the message."))
    subscriber = Subscriber.objects.filter(pk=payload["s"], key=payload.get("k")).first()
    if subscriber is None:
        raise AddressGone(_("This address no longer follows anything here: there is nothing left to change."))
    return subscriber, payload


def absolute(path: str) -> str:
    return settings.AITRACKER_SITE_URL + path


# --- Who is told --------------------------------------------------------------------------------------------


def subscriptions_concerning(update: ProgressUpdate):
    """Confirmed subscriptions an update concerns: its commitment, the commitment's instrument and themes, and
    the parties the update names (an update about the commitment as a whole names none)."""
    commitment = update.commitment
    return Subscription.objects.filter(confirmed_at__isnull=False).filter(
        Q(commitment_id=commitment.pk)
        | Q(instrument_id=commitment.instrument_id)
        | Q(theme__in=commitment.themes.all())
        | Q(party__in=update.parties.all())
    )


def event_key(update: ProgressUpdate, event: str) -> str:
    if event == CORRECTED and update.corrected_at:
        return f"update:{update.pk}:{CORRECTED}:{int(update.corrected_at.timestamp())}"
    return f"update:{update.pk}:{PUBLISHED}"


def published_update(update_id: int) -> ProgressUpdate | None:
    """The update if it is public now: one unpublished or deleted since its job was queued is told to nobody."""
    return (
        ProgressUpdate.objects.public()
        .select_related("commitment__instrument")
        .prefetch_related("parties", "sources")
        .filter(pk=update_id)
        .first()
    )


DIGEST_LOOKUPS = {
    "commitment": "commitment_id__in",
    "party": "parties__in",
    "instrument": "commitment__instrument_id__in",
    "theme": "commitment__themes__in",
}


def digest_updates(subscriber: Subscriber, day: datetime.date):
    """The published updates of one day (published or visibly corrected that day, UTC) that concern what the
    subscriber follows by daily digest."""
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)
    end = start + datetime.timedelta(days=1)
    follows = subscriber.subscriptions.filter(confirmed_at__isnull=False, frequency=Subscription.Frequency.DAILY)
    target = Q()
    for name in ("commitment", "party", "instrument", "theme"):
        ids = [getattr(s, f"{name}_id") for s in follows if getattr(s, f"{name}_id")]
        if not ids:
            continue
        target |= Q(**{DIGEST_LOOKUPS[name]: ids})
    if not target:
        return [], []
    updates = (
        ProgressUpdate.objects.public()
        .filter(target)
        .filter(Q(published_at__gte=start, published_at__lt=end) | Q(corrected_at__gte=start, corrected_at__lt=end))
        .select_related("commitment__instrument")
        .distinct()
        .order_by("published_at", "pk")
    )
    return list(updates), [s.pk for s in follows]


# --- Messages -----------------------------------------------------------------------------------------------


@dataclass
class Message:
    subject: str
    template: str
    context: dict
    unsubscribe_ids: list | None = None  # None: the confirmation, which has no unsubscribe link


def build(subscriber: Subscriber, message: Message) -> EmailMultiAlternatives:
    """The message in the subscriber's language, plain text with an HTML alternative."""
    with translation.override(subscriber.language):
        context = {**message.context, "site_url": settings.AITRACKER_SITE_URL,
                   "page_language": hreflang(translation.get_language()),
                   "manage_url": absolute(reverse("follow_manage", args=[manage_token(subscriber)]))}  # fmt: skip
        headers = {}
        if message.unsubscribe_ids is not None:
            unsubscribe_url = absolute(
                reverse("follow_unsubscribe", args=[unsubscribe_token(subscriber, message.unsubscribe_ids)])
            )
            context["unsubscribe_url"] = unsubscribe_url
            targets = [f"<{unsubscribe_url}>"]
            if settings.AITRACKER_UNSUBSCRIBE_MAILTO:
                targets.append(f"<mailto:{settings.AITRACKER_UNSUBSCRIBE_MAILTO}?subject=unsubscribe>")
            headers["List-Unsubscribe"] = ", ".join(targets)
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        text = render_to_string(f"aitracker/email/{message.template}.txt", context)
        html = render_to_string(f"aitracker/email/{message.template}.html", context)
        subject = str(message.subject)
    email = EmailMultiAlternatives(subject=subject, body=text, to=[subscriber.email], headers=headers)
    email.attach_alternative(html, "text/html")
    return email


def deliver_once(*, subscriber_id: int, key: str, compose) -> bool:
    """Send what `compose(subscriber)` builds (a Message, or None for nothing to say) unless it was sent before.

    The delivery row is inserted, then the message sent, in one transaction: another worker inserting the same
    key waits for this one and then fails on the constraint; if this worker dies before the commit, the row
    goes with it and the job's next run sends the message. True if this call sent it.
    """
    with transaction.atomic():
        subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
        if subscriber is None:  # unsubscribed since: nothing to send
            return False
        message = compose(subscriber)
        if message is None:
            return False
        try:
            with transaction.atomic():
                AlertDelivery.objects.create(subscriber=subscriber, key=key)
        except IntegrityError:
            return False
        build(subscriber, message).send()
    return True


def confirmation_message(subscription: Subscription, frequency: str) -> Message:
    with translation.override(subscription.subscriber.language):
        return Message(
            subject=_("Confirm that you want to follow %(target)s") % {"target": subscription.target},
            template="confirm",
            context={
                "target": subscription.target,
                "target_url": absolute(subscription.target.get_absolute_url()),
                "frequency": Subscription.Frequency(frequency).label,
                "confirm_url": absolute(reverse("follow_confirm", args=[confirm_token(subscription, frequency)])),
                "days": settings.AITRACKER_CONFIRM_DAYS,
            },
        )


def alert_message(subscriber: Subscriber, update: ProgressUpdate, event: str) -> Message | None:
    follows = list(
        subscriptions_concerning(update).filter(subscriber=subscriber, frequency=Subscription.Frequency.IMMEDIATE)
    )
    if not follows:
        return None
    with translation.override(subscriber.language):
        commitment = update.commitment
        subject = (
            _("Corrected: %(commitment)s") if event == CORRECTED else _("New progress update: %(commitment)s")
        ) % {"commitment": commitment.title}
        return Message(
            subject=subject,
            template="alert",
            context={
                "update": update,
                "corrected": event == CORRECTED,
                "commitment_url": absolute(commitment.get_absolute_url()),
                "follows": [s.target for s in follows],
            },
            unsubscribe_ids=[s.pk for s in follows],
        )


def digest_message(subscriber: Subscriber, day: datetime.date) -> Message | None:
    updates, follow_ids = digest_updates(subscriber, day)
    if not updates:
        return None
    with translation.override(subscriber.language):
        return Message(
            subject=ngettext(
                "aitracker: %(count)s update on %(day)s", "aitracker: %(count)s updates on %(day)s", len(updates)
            )
            % {"count": len(updates), "day": display_date(day)},
            template="digest",
            context={
                "day": day,
                "items": [(u, absolute(u.commitment.get_absolute_url())) for u in updates],
            },
            unsubscribe_ids=follow_ids,
        )


def purge_cutoff(now=None):
    return (now or timezone.now()) - datetime.timedelta(days=settings.AITRACKER_CONFIRM_DAYS)
