"""Real `manage.py db_worker` processes against one queue, on the suite's kind of database (the PostgreSQL test
database, or a SQLite file they share), sending through a real SMTP server: two workers never send the same
message twice, and a worker killed in the middle of sending loses nothing."""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from tests.mailbox import Mailbox, free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def seed(count: int, duplicates: bool = True) -> None:
    """`count` confirmed followers of one commitment, a published update, and its alert jobs queued twice over
    (the fan-out job twice, and every per-address job once more): what retries and requeues can leave."""
    from django.utils import timezone

    from aitracker import tasks
    from aitracker.models import Subscriber, Subscription
    from tests import factories

    commitment = factories.make_commitment()
    for n in range(count):
        subscriber = Subscriber.objects.create(email=f"reader{n}@example.org", key=f"key-{n}")
        Subscription.objects.create(subscriber=subscriber, commitment=commitment, confirmed_at=timezone.now())
    update = factories.make_update(commitment=commitment, state="published")
    for _ in range(2 if duplicates else 1):
        tasks.send_update_alerts.enqueue(update_id=update.pk, event="published")
    if duplicates:
        for subscriber in Subscriber.objects.all():
            tasks.send_update_alert.enqueue(subscriber_id=subscriber.pk, update_id=update.pk, event="published")


def job_summary() -> None:
    from django_tasks_db.models import DBTaskResult

    rows = list(DBTaskResult.objects.values_list("status", "worker_ids"))
    print(json.dumps({"statuses": sorted({status for status, _ in rows}),
                      "workers": sorted({w for _, ids in rows for w in ids}), "count": len(rows)}))  # fmt: skip


class Site:
    """Environment and commands for subprocesses that share this test's database."""

    def __init__(self, tmp_path: Path, smtp_port: int, template: Path | None = None):
        settings = connection.settings_dict
        if connection.vendor == "postgresql":
            password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
            url = f"postgres://{settings['USER']}{password}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
        else:
            url = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_")}
        self.env.update(DATABASE_URL=url, EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp_port), EMAIL_USE_TLS="0",
                        EMAIL_TIMEOUT="60", PYTHONUNBUFFERED="1", DJANGO_DEBUG="1")  # fmt: skip
        if connection.vendor != "postgresql":
            if template and template.exists():
                shutil.copyfile(template, tmp_path / "jobs.sqlite3")
            else:
                self.manage("migrate", "-v0")

    def manage(self, *args, **kwargs):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True,
                              capture_output=True, text=True, timeout=300, **kwargs)  # fmt: skip

    def python(self, code: str) -> str:
        return self.manage("shell", "-c", code).stdout

    def worker(self, name: str, *, batch=True, log: Path) -> subprocess.Popen:
        args = ["db_worker", "--no-reload", "--no-startup-delay", "--queue-name", "*", "--interval", "0.1",
                "--worker-id", name, *(["--batch"] if batch else [])]  # fmt: skip
        return subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                                stdout=log.open("w"), stderr=subprocess.STDOUT)  # fmt: skip

    def summary(self) -> dict:
        return json.loads(
            self.python("from tests.test_job_workers import job_summary; job_summary()").strip().splitlines()[-1]
        )


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    """On SQLite, one migrated database file, copied for each test (migrating takes a while)."""
    folder = tmp_path_factory.mktemp("jobs-db")
    if connection.vendor != "postgresql":
        Site(folder, 25)
        return folder / "jobs.sqlite3"
    return None


@pytest.fixture
def smtp():
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.port = port
    yield box
    controller.stop()


def test_two_workers_never_send_the_same_email_twice(tmp_path, smtp, migrated):
    count = 30
    site = Site(tmp_path, smtp.port, migrated)
    site.python(f"from tests.test_job_workers import seed; seed({count})")
    workers = [site.worker(f"worker-{n}", log=tmp_path / f"worker-{n}.log") for n in (1, 2)]
    for worker in workers:
        assert worker.wait(timeout=300) == 0, (tmp_path / "worker-1.log").read_text()[-3000:]
    time.sleep(0.5)
    recipients = [recipient for recipient, _ in smtp.messages]
    assert len(recipients) == count, recipients
    assert sorted(recipients) == sorted(f"reader{n}@example.org" for n in range(count))
    summary = site.summary()
    assert summary["statuses"] == ["SUCCESSFUL"]
    assert summary["count"] == 2 + 3 * count
    assert summary["workers"] == ["worker-1", "worker-2"]  # both took jobs from the same queue


class StallingMailbox(Mailbox):
    """Accepts the connection, then never answers the message's data: the worker is caught mid-send."""

    def __init__(self):
        super().__init__()
        self.receiving = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.receiving.set()
        while not self.release.is_set():
            await asyncio.sleep(0.05)
        return "451 try again later"


def test_a_worker_killed_while_sending_loses_nothing(tmp_path, smtp, migrated):
    stalling = StallingMailbox()
    port = free_port()
    controller = Controller(stalling, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        site = Site(tmp_path, port, migrated)
        site.python("from tests.test_job_workers import seed; seed(1, duplicates=False)")
        worker = site.worker("doomed", batch=False, log=tmp_path / "doomed.log")
        assert stalling.receiving.wait(timeout=120), (tmp_path / "doomed.log").read_text()[-3000:]
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        stalling.release.set()
        controller.stop()
    assert stalling.messages == []
    assert "RUNNING" in site.summary()["statuses"]

    # Its job goes back to the queue, a new worker sends the message, once.
    site.env["EMAIL_PORT"] = str(smtp.port)
    assert "Queued again 1 stalled job(s)." in site.manage("requeue_stalled_jobs", "--older-than", "0").stdout
    survivor = site.worker("survivor", log=tmp_path / "survivor.log")
    assert survivor.wait(timeout=300) == 0, (tmp_path / "survivor.log").read_text()[-3000:]
    assert [recipient for recipient, _ in smtp.wait_for(1)] == ["reader0@example.org"]
    assert site.summary()["statuses"] == ["SUCCESSFUL"]
