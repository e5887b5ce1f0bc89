"""E-mail alerts' public pages: ask to follow something, confirm, unsubscribe, manage one's subscriptions; and
the privacy page. The public pages link here (a plain link: they stay cacheable); these pages are never cached
(their addresses hold a subscriber's token: AITRACKER_PRIVATE_PATH_PREFIXES sends them no-store).

A bad or expired link, a link used twice, a malformed address or too many requests each get a page that says
what happened (400, 410 or 429), never a 500."""

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import TemplateView

from . import alerts, services
from .forms import FollowForm
from .i18n import list_of
from .middleware import client_ip
from .models import FOLLOW_TARGETS, Commitment, Instrument, Party, Subscription, Theme

TARGET_MODELS = {"commitment": Commitment, "party": Party, "instrument": Instrument, "theme": Theme}
RATE_WINDOW_SECONDS = 60 * 60


def follow_target(request):
    """The published object named by the query string (?commitment=<slug>, ?party=…, ?instrument=…, ?theme=…)."""
    for kind in FOLLOW_TARGETS:
        slug = request.GET.get(kind)
        if slug:
            target = TARGET_MODELS[kind].objects.public().filter(slug=slug[:200]).first()
            if target is None:
                raise Http404(_("There is nothing by that name to follow."))
            return kind, target
    raise Http404(_("Say what to follow: open this page from a commitment, party, instrument or theme."))


def _over_rate(*keys: str) -> bool:
    """Count one request against each key for the hour; True if any is past AITRACKER_FOLLOW_RATE_PER_HOUR.
    A cache that fails lets the request through (the form is no more dangerous than the cache is down)."""
    over = False
    for key in keys:
        try:
            cache.add(key, 0, RATE_WINDOW_SECONDS)
            over = cache.incr(key) > settings.AITRACKER_FOLLOW_RATE_PER_HOUR or over
        except Exception:  # see the docstring
            continue
    return over


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def message_page(request, *, title: str, message: str, status: int = 200, manage_url: str = ""):
    return TemplateResponse(
        request,
        "aitracker/follow_message.html",
        {"title": title, "message": message, "manage_url": manage_url},
        status=status,
    )


@never_cache
def follow(request):
    kind, target = follow_target(request)
    request.query_names_page = (kind,)  # ?theme=…: its canonical and hreflang addresses keep it, and only it
    form = FollowForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = services.normalise_email(form.cleaned_data["email"]).lower()
        ip_key = f"aitracker:follow:ip:{_digest(client_ip(request) or '-')}"
        if _over_rate(ip_key, f"aitracker:follow:email:{_digest(email)}"):
            return message_page(
                request,
                title=_("Too many requests"),
                message=_("Too many requests to follow from here or for this address. Try again in an hour."),
                status=429,
            )
        try:
            services.subscription_request(
                email=form.cleaned_data["email"],
                target=target,
                frequency=form.cleaned_data["frequency"],
                language=get_language() or settings.LANGUAGE_CODE,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect(reverse("follow_sent"))
    status = 400 if form.errors else 200
    return TemplateResponse(
        request, "aitracker/follow_form.html", {"form": form, "target": target, "kind": kind}, status=status
    )


@never_cache
def follow_sent(request):
    return message_page(
        request,
        title=_("Check your inbox"),
        message=_(
            "We have sent a message to the address you gave. Follow the link in it to start: nothing else is sent "
            "until you do. The link works for %(days)s days."
        )
        % {"days": settings.AITRACKER_CONFIRM_DAYS},
    )


def _bad_link(request, error: alerts.BadLink):
    return message_page(request, title=_("This link cannot be used"), message=str(error), status=410)


@never_cache
def confirm(request, token):
    try:
        subscriber, payload = alerts.read_token(
            token, alerts.CONFIRM_SALT, max_age=settings.AITRACKER_CONFIRM_DAYS * 24 * 60 * 60
        )
        subscription, already = services.subscription_confirm(
            subscription_id=payload.get("i"), subscriber=subscriber, frequency=payload.get("f")
        )
    except alerts.BadLink as error:
        return _bad_link(request, error)
    manage_url = reverse("follow_manage", args=[alerts.manage_token(subscriber)])
    if already:
        message = _("This link was already used: you already follow %(target)s (%(frequency)s).")
    else:
        message = _("Done: you now follow %(target)s (%(frequency)s).")
    return message_page(
        request,
        title=_("Subscription confirmed"),
        message=message % {"target": subscription.target, "frequency": subscription.get_frequency_display()},
        manage_url=manage_url,
    )


def _already_unsubscribed(request):
    message = _("You had already unsubscribed from this: nothing more to do.")
    return message_page(request, title=_("Already unsubscribed"), message=message)


@never_cache
@csrf_exempt  # RFC 8058: a mail client's one-click POST carries no CSRF token. The signed token is the proof.
def unsubscribe(request, token):
    """GET shows a button (a link prefetcher or a scanner following the link changes nothing); POST, from that
    button or from a mail client's one-click (List-Unsubscribe-Post), unsubscribes."""
    try:
        subscriber, payload = alerts.read_token(token, alerts.UNSUBSCRIBE_SALT)
    except alerts.AddressGone as error:
        # A genuine link whose address went with its last subscription: a one-click POST is told it is done.
        if request.method == "POST":
            return message_page(
                request,
                title=_("Already unsubscribed"),
                message=_("You had already unsubscribed: this address follows nothing here any more."),
            )
        return _bad_link(request, error)
    except alerts.BadLink as error:  # forged, cut short or of another kind: not valid, whatever the method
        return _bad_link(request, error)
    ids = payload.get("i")
    if not isinstance(ids, list) or not all(type(pk) is int for pk in ids):
        return _bad_link(request, alerts.BadLink(_("This link is not valid. Copy the whole link from the message.")))
    subscriptions = list(subscriber.subscriptions.filter(pk__in=ids).select_related(*FOLLOW_TARGETS))
    if request.method == "POST":
        ended = services.subscriptions_cancel(subscriber=subscriber, subscription_ids=ids)
        if not ended:
            return _already_unsubscribed(request)
        return message_page(
            request,
            title=_("Unsubscribed"),
            message=_("Done: you will get no more messages about %(targets)s.")
            % {"targets": list_of(s.target for s in subscriptions)},
        )
    if not subscriptions:
        return _already_unsubscribed(request)
    return TemplateResponse(request, "aitracker/follow_unsubscribe.html", {"subscriptions": subscriptions})


@never_cache
def manage(request, token):
    """Every subscription of the address the link was sent to, each with a button to end it, and one for all."""
    try:
        subscriber, _payload = alerts.read_token(token, alerts.MANAGE_SALT)
    except alerts.BadLink as error:
        return _bad_link(request, error)
    if request.method == "POST":
        choice = request.POST.get("subscription", "")
        if choice == "all":
            ids = None
        elif choice.isdigit():
            ids = [int(choice)]
        else:
            return message_page(
                request, title=_("Nothing chosen"), message=_("Choose a subscription to end."), status=400
            )
        services.subscriptions_cancel(subscriber=subscriber, subscription_ids=ids)
        if not Subscription.objects.filter(subscriber_id=subscriber.pk).exists():
            return message_page(
                request,
                title=_("Unsubscribed"),
                message=_("This address follows nothing here any more, and we have deleted it."),
            )
        return redirect(request.path)
    subscriptions = subscriber.subscriptions.select_related(*FOLLOW_TARGETS)
    return TemplateResponse(request, "aitracker/follow_manage.html", {"subscriptions": subscriptions})


class PrivacyView(TemplateView):
    template_name = "aitracker/privacy.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            contact_email=settings.AITRACKER_CONTACT_EMAIL,
            confirm_days=settings.AITRACKER_CONFIRM_DAYS,
            **kwargs,
        )
