"""A real SMTP server for the tests (aiosmtpd on a free port) and a way to run the queued background jobs.

`mailbox` starts the server, points the site's default mailer at it and collects what arrives, parsed;
`run_jobs()` runs every ready job the way `manage.py db_worker --batch` does, in this process.
"""

import email
import email.policy
import signal
import socket
import threading
import time
from unittest import mock

from aiosmtpd.controller import Controller
from django.core.management import call_command


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """What the SMTP server received: one parsed message per RCPT (so a message to two counts twice)."""

    def __init__(self):
        self.messages = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            for recipient in envelope.rcpt_tos:
                self.messages.append((recipient, message))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 20):
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages

    def to(self, address: str):
        return [message for recipient, message in self.messages if recipient == address]


def start_smtp():
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    return box, controller, port


def smtp_mailers(port: int) -> dict:
    return {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "use_tls": False, "timeout": 10},
        }
    }


def text_part(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_part(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def run_jobs(*, max_rounds: int = 10) -> int:
    """Run every ready job (and the jobs they queue) with `manage.py db_worker --batch`, in this process; returns
    how many ran. The worker's connection housekeeping is skipped: inside a test's transaction it would close the
    connection. Its signal handlers are put back as they were."""
    from django_tasks_db.models import DBTaskResult

    finished_before = DBTaskResult.objects.finished().count()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    try:
        with mock.patch("django_tasks_db.management.commands.db_worker.close_old_connections"):
            for _ in range(max_rounds):
                if not DBTaskResult.objects.ready().exists():
                    break
                call_command("db_worker", batch=True, reload=False, startup_delay=False, interval=0, queue_name="*",
                             verbosity=0)  # fmt: skip
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return DBTaskResult.objects.finished().count() - finished_before
