"""Background jobs (issue 15, part 1): enqueued on commit, retried with backoff, failures shown to editors, a job
left running by a dead worker run again. Two real workers and a killed one: tests/test_job_workers.py."""

import datetime

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from aitracker import services, tasks
from aitracker.models import AlertDelivery, Subscriber, Subscription
from tests import factories
from tests.mailbox import free_port, run_jobs, smtp_mailers


def confirmed_follower(commitment, email="reader@example.org") -> Subscriber:
    subscriber = Subscriber.objects.create(email=email, key="k-" + email)
    Subscription.objects.create(subscriber=subscriber, commitment=commitment, confirmed_at=timezone.now())
    return subscriber


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_job_asked_for_in_a_transaction_that_rolls_back_never_runs(mailbox):
    commitment = factories.make_commitment()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.subscription_request(email="a@example.org", target=commitment, frequency="daily", language="en")
        raise RuntimeError("the request failed after asking for the job")
    assert not DBTaskResult.objects.exists()
    assert run_jobs() == 0
    # The same request committed queues its job at the commit, and the worker sends it.
    services.subscription_request(email="a@example.org", target=commitment, frequency="daily", language="en")
    assert DBTaskResult.objects.count() == 1
    assert run_jobs() == 1
    assert len(mailbox.wait_for(1)) == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_publication_that_fails_queues_no_alert(editor, analyst):
    commitment = factories.make_commitment()
    confirmed_follower(commitment)
    update = factories.make_update(commitment=commitment, author=analyst, state="submitted", sources=0)
    with pytest.raises(Exception, match="source"):
        services.progress_update_publish(update=update, editor=editor)
    assert not DBTaskResult.objects.exists()


@pytest.mark.django_db
def test_a_job_left_running_by_a_dead_worker_runs_again_and_sends_once(mailbox, analyst):
    commitment = factories.make_commitment()
    subscriber = confirmed_follower(commitment)
    update = factories.make_update(commitment=commitment, author=analyst, state="published")
    result = tasks.send_update_alert.enqueue(subscriber_id=subscriber.pk, update_id=update.pk, event="published")
    # A worker claimed it and died: the row stays RUNNING, and no worker takes a running job.
    DBTaskResult.objects.filter(pk=result.id).update(
        status="RUNNING", started_at=timezone.now() - datetime.timedelta(hours=1), worker_ids=["dead-worker"]
    )
    assert run_jobs() == 0
    assert tasks.requeue_stalled(older_than=datetime.timedelta(minutes=15)) == 1
    assert run_jobs() == 1
    assert [recipient for recipient, _ in mailbox.wait_for(1)] == ["reader@example.org"]
    # Run once more (as a second requeue would): the delivery row says it was sent.
    DBTaskResult.objects.filter(pk=result.id).update(status="READY")
    run_jobs()
    assert len(mailbox.messages) == 1
    assert AlertDelivery.objects.count() == 1


@pytest.mark.django_db
def test_a_failed_job_is_retried_later_and_shown_to_editors(settings, analyst, editor, client):
    settings.MAILERS = smtp_mailers(free_port())  # nothing listens there: sending fails
    settings.AITRACKER_JOB_MAX_ATTEMPTS = 2
    commitment = factories.make_commitment()
    subscriber = confirmed_follower(commitment, email="someone.private@example.org")
    update = factories.make_update(commitment=commitment, author=analyst, state="published")
    tasks.send_update_alert.enqueue(subscriber_id=subscriber.pk, update_id=update.pk, event="published")
    before = timezone.now()
    run_jobs()
    failed = DBTaskResult.objects.failed().get()
    retry = DBTaskResult.objects.get(status="READY")
    assert retry.args_kwargs["kwargs"]["attempt"] == 2
    assert retry.run_after >= before + datetime.timedelta(seconds=settings.AITRACKER_JOB_RETRY_BASE_SECONDS)
    assert not AlertDelivery.objects.exists()  # the failed send left no delivery row: it will be sent again

    assert client.get(reverse("staff_jobs")).status_code == 302  # to the login page
    client.force_login(analyst)
    assert client.get(reverse("staff_jobs")).status_code == 403
    client.force_login(editor)
    page = client.get(reverse("staff_jobs")).content.decode()
    assert "send_update_alert" in page and "1 of 2" in page and failed.exception_class_path in page
    assert "someone.private@example.org" not in page

    # The last attempt fails too: no further retry, and the page says it gave up.
    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=timezone.now())
    run_jobs()
    assert DBTaskResult.objects.failed().count() == 2 and not DBTaskResult.objects.ready().exists()
    assert "given up" in client.get(reverse("staff_jobs")).content.decode()


def test_retries_back_off(settings):
    settings.AITRACKER_JOB_RETRY_BASE_SECONDS = 60
    assert [tasks.retry_delay(n).total_seconds() for n in (1, 2, 3)] == [60, 240, 960]
