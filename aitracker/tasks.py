"""Background jobs: django.tasks, queued in the database (django-tasks-db), run by `manage.py db_worker`.

- Enqueued on commit (`enqueue_on_commit`): a job asked for inside a transaction that rolls back never exists,
  and a worker never looks for a row that is not committed yet.
- Idempotent: every message is sent through `alerts.deliver_once`, whose unique delivery row makes a job that
  runs twice (a retry, a stalled job run again, two workers) send it once.
- Retried with backoff (`retried`): django-tasks-db runs a job once and records its failure. A job that raises
  is recorded FAILED (with its traceback, on the editors' page /staff/jobs/) and queues a new run of itself
  with `run_after` AITRACKER_JOB_RETRY_BASE_SECONDS x 4^(attempt-1) later, up to AITRACKER_JOB_MAX_ATTEMPTS
  runs in all; its `attempt` argument says which run it is.
- A worker that dies mid-job leaves its row RUNNING for good: `requeue_stalled` (the `requeue_stalled_jobs`
  command, run by cron and before each worker `make run`/`make serve` starts) puts rows running for longer than
  AITRACKER_JOB_STALLED_AFTER_SECONDS back in the queue. The job is idempotent, so running it again is safe.
"""

import datetime
import functools
import logging
import uuid

from django.conf import settings
from django.db import transaction
from django.tasks import task
from django.tasks.base import TaskResultStatus
from django.utils import timezone
from django.utils.module_loading import import_string

from . import alerts
from .models import Subscriber, Subscription

logger = logging.getLogger(__name__)


def enqueue_on_commit(job, **kwargs) -> None:
    """Queue `job` once the current transaction commits (at once outside one); nothing if it rolls back."""
    transaction.on_commit(functools.partial(job.enqueue, **kwargs))


def retry_delay(attempt: int) -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.AITRACKER_JOB_RETRY_BASE_SECONDS * 4 ** (attempt - 1))


def retried(func):
    """Run `func(**kwargs)`; if it raises, queue the next attempt later (see the module's docstring), then raise
    so that this run is recorded as failed."""

    @functools.wraps(func)
    def run(*, attempt: int = 1, **kwargs):
        try:
            return func(**kwargs)
        except Exception:
            if attempt < settings.AITRACKER_JOB_MAX_ATTEMPTS:
                job = import_string(f"{func.__module__}.{func.__qualname__}")
                job.using(run_after=timezone.now() + retry_delay(attempt)).enqueue(attempt=attempt + 1, **kwargs)
                logger.warning("%s failed (attempt %s); retrying in %s", func.__name__, attempt, retry_delay(attempt))
            else:
                logger.error("%s failed %s times; giving up", func.__name__, attempt)
            raise

    return run


def requeue_stalled(*, older_than: datetime.timedelta | None = None) -> int:
    """Put back in the queue the jobs marked running for longer than a job can take: their worker died."""
    from django_tasks_db.models import DBTaskResult

    if older_than is None:
        older_than = datetime.timedelta(seconds=settings.AITRACKER_JOB_STALLED_AFTER_SECONDS)
    return DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, started_at__lt=timezone.now() - older_than
    ).update(status=TaskResultStatus.READY)


# --- E-mail alerts -----------------------------------------------------------------------------------------


@task()
@retried
def send_confirmation(*, subscription_id: int, frequency: str, request_id: str) -> bool:
    """The double opt-in message: one per request to follow (a repeated request gets a fresh link)."""
    subscription = Subscription.objects.select_related("subscriber").filter(pk=subscription_id).first()
    if subscription is None:
        return False
    return alerts.deliver_once(
        subscriber_id=subscription.subscriber_id,
        key=f"confirm:{request_id}",
        compose=lambda subscriber: alerts.confirmation_message(subscription, frequency),
    )


@task()
@retried
def send_update_alerts(*, update_id: int, event: str) -> int:
    """A publication or a visible correction: one job per address that follows it as it happens."""
    update = alerts.published_update(update_id)
    if update is None:
        return 0
    subscriber_ids = (
        alerts.subscriptions_concerning(update)
        .filter(frequency=Subscription.Frequency.IMMEDIATE)
        .values_list("subscriber_id", flat=True)
        .distinct()
        .order_by("subscriber_id")
    )
    count = 0
    for subscriber_id in subscriber_ids:
        send_update_alert.enqueue(subscriber_id=subscriber_id, update_id=update_id, event=event)
        count += 1
    return count


@task()
@retried
def send_update_alert(*, subscriber_id: int, update_id: int, event: str) -> bool:
    update = alerts.published_update(update_id)
    if update is None:
        return False
    return alerts.deliver_once(
        subscriber_id=subscriber_id,
        key=alerts.event_key(update, event),
        compose=lambda subscriber: alerts.alert_message(subscriber, update, event),
    )


@task()
@retried
def send_digest(*, subscriber_id: int, day: str) -> bool:
    on = datetime.date.fromisoformat(day)
    return alerts.deliver_once(
        subscriber_id=subscriber_id,
        key=f"digest:{on.isoformat()}",
        compose=lambda subscriber: alerts.digest_message(subscriber, on),
    )


def enqueue_digests(*, day: datetime.date) -> int:
    """One digest job per address with a confirmed daily subscription (those with nothing that day send none)."""
    subscriber_ids = (
        Subscriber.objects.filter(
            subscriptions__confirmed_at__isnull=False, subscriptions__frequency=Subscription.Frequency.DAILY
        )
        .values_list("pk", flat=True)
        .distinct()
        .order_by("pk")
    )
    count = 0
    for subscriber_id in subscriber_ids:
        send_digest.enqueue(subscriber_id=subscriber_id, day=day.isoformat())
        count += 1
    return count


def new_request_id() -> str:
    return uuid.uuid4().hex
