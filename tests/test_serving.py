"""How the site is served (issue 10, holes 10 and 11): the nginx front that holds slow clients, gunicorn's trust
in forwarded headers, the headers on every response, one-line logs for client errors, passwords built from the
username."""

import contextlib
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from deploy import serve
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


# --- headers on every response ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _static_from_the_finders(settings):
    """Tests run without collectstatic: whitenoise serves the files from the finders, as in development."""
    settings.WHITENOISE_USE_FINDERS = True


@pytest.fixture
def site(db):
    commitment = factories.make_commitment()
    factories.make_update(commitment=commitment, state="published")
    return commitment


@pytest.mark.parametrize("path", ["/", "/commitments/", "/feeds/updates.atom", "/healthz", "/no-such-page/"])
def test_every_response_forbids_other_sites_to_embed_it(client, site, path):
    response = client.get(path)
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"


def test_redirects_admin_pages_and_static_files_forbid_other_sites_to_embed_them(client, editor, site):
    assert client.get(reverse("admin:index"))["Cross-Origin-Resource-Policy"] == "same-origin"  # a redirect
    client.force_login(editor)
    assert client.get(reverse("admin:index"))["Cross-Origin-Resource-Policy"] == "same-origin"
    static = client.get("/static/css/site.css")
    assert static.status_code == 200
    assert static["Cross-Origin-Resource-Policy"] == "same-origin"


def test_static_files_are_not_open_to_every_origin(client, db):
    """Nothing on another origin needs our CSS or images through CORS, so whitenoise's default
    `Access-Control-Allow-Origin: *` is turned off."""
    response = client.get("/static/css/site.css", headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


# --- one line in the log for a client's error ---------------------------------------------------------------


@pytest.fixture
def site_log():
    """What the site's own log handler writes (the 'console' handler of settings.LOGGING)."""
    handler = logging.getHandlerByName("console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


def test_a_bad_host_is_logged_in_one_line_without_a_traceback(client, db, site_log, caplog):
    response = client.get("/healthz", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert any(record.name == "django.security.DisallowedHost" for record in caplog.records)
    lines = site_log.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert "evil.example" in lines[0]
    assert "Traceback" not in site_log.getvalue()


def test_a_forbidden_page_is_logged_in_one_line_without_a_traceback(client, db, site_log, caplog):
    analyst = factories.make_analyst()
    client.force_login(analyst)
    response = client.get(reverse("admin:auth_user_changelist"))
    assert response.status_code == 403
    assert any(record.name == "django.request" and record.status_code == 403 for record in caplog.records)
    lines = site_log.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert "Forbidden" in lines[0] and "PermissionDenied" in lines[0]


def test_a_client_error_loses_its_traceback_and_a_server_error_keeps_it(site_log):
    from aitracker.log import OneLineClientErrors

    logger = logging.getLogger("django.request")
    for status, exc in [(403, PermissionDenied("no\nsecond line")), (500, RuntimeError("boom"))]:
        try:
            raise exc
        except Exception as caught:
            logger.error("failed: %s", "/x/", exc_info=caught, extra={"status_code": status})
    output = site_log.getvalue()
    assert output.splitlines()[0] == "failed: /x/ (PermissionDenied: no\\nsecond line)"
    assert "Traceback" in output and "RuntimeError: boom" in output
    assert OneLineClientErrors in {type(f) for f in logging.getHandlerByName("console").filters}


# --- passwords built from the username ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "password", ["erin-erin-erin", "ERIN.erin.Erin", "erin_erin_erin_erin", "erinerinerin", "erin erin erin!"]
)
def test_a_password_made_of_the_username_is_refused(db, password):
    erin = factories.make_user(username="erin")
    with pytest.raises(ValidationError) as error:
        validate_password(password, user=erin)
    assert "made of your username" in " ".join(error.value.messages)


@pytest.mark.parametrize("password", ["erin-likes-long-walks", "correct-horse-battery", "nire-nire-nire"])
def test_a_password_that_merely_contains_the_username_is_accepted(db, password):
    validate_password(password, user=factories.make_user(username="erin"))


def test_the_staff_password_form_says_why_a_password_is_refused(client, db):
    erin = factories.make_user(username="erin", group="Analyst")
    client.force_login(erin)
    response = client.post(
        reverse("password_change"),
        {"old_password": factories.PASSWORD, "new_password1": "erin-erin-erin", "new_password2": "erin-erin-erin"},
    )
    assert response.status_code == 200
    assert "made of your username" in response.content.decode()
    erin.refresh_from_db()
    assert erin.check_password(factories.PASSWORD)


# --- gunicorn trusts forwarded headers exactly when Django does ---------------------------------------------


def gunicorn_config(**env) -> dict:
    """gunicorn's own reading of gunicorn.conf.py, in a fresh process with the given environment."""
    code = (
        "import json\n"
        "from gunicorn.app.base import Application\n"
        "class App(Application):\n"
        "    def init(self, *a): pass\n"
        "    def load(self): pass\n"
        "app = App(usage='', prog='gunicorn')\n"
        "app.load_config_from_file('gunicorn.conf.py')\n"
        "c = app.cfg\n"
        "import runpy\n"
        "heap = runpy.run_path('gunicorn.conf.py')['limit_heap_growth']()\n"
        "print(json.dumps({'forwarded_allow_ips': c.forwarded_allow_ips, "
        "'secure_scheme_headers': c.secure_scheme_headers, 'forwarder_headers': c.forwarder_headers, "
        "'post_fork_is_ours': c.post_fork.__module__ != 'gunicorn.config', 'heap_limited': heap}))\n"
    )
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FORWARDED_ALLOW_IPS"))}
    full_env.update({"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "x" * 64, "DJANGO_ALLOWED_HOSTS": "127.0.0.1", **env})
    output = subprocess.run(
        [PYTHON, "-c", code, "-"], cwd=ROOT, env=full_env, check=True, text=True, capture_output=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def test_gunicorn_trusts_no_forwarded_header_when_django_does_not():
    config = gunicorn_config(DJANGO_TRUST_X_FORWARDED_PROTO="0")
    assert config["secure_scheme_headers"] == {}
    assert config["forwarded_allow_ips"] == []
    assert config["forwarder_headers"] == []


def test_gunicorn_trusts_only_x_forwarded_proto_from_the_proxy_when_django_does():
    config = gunicorn_config(DJANGO_TRUST_X_FORWARDED_PROTO="1")
    assert config["secure_scheme_headers"] == {"X-FORWARDED-PROTO": "https"}
    assert config["forwarded_allow_ips"] == ["127.0.0.1", "::1"]
    assert config["forwarder_headers"] == []


def test_gunicorn_follows_django_in_development_too():
    """DJANGO_TRUST_X_FORWARDED_PROTO only counts in production (settings.py): gunicorn follows the setting,
    not the variable."""
    assert gunicorn_config(DJANGO_DEBUG="1", DJANGO_TRUST_X_FORWARDED_PROTO="1")["secure_scheme_headers"] == {}


def test_each_worker_fixes_glibcs_malloc_thresholds():
    """The hook that keeps a worker's heap from growing with every large page (gunicorn.conf.py): gunicorn runs it
    in each new worker, and glibc takes both thresholds (this machine runs glibc, as Debian does)."""
    config = gunicorn_config()
    assert config["post_fork_is_ours"] and config["heap_limited"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.build_opener(NoRedirect).open(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def status_of(url: str, headers: dict) -> int:
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def production_env(tmp_path: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FORWARDED_ALLOW_IPS"))}
    env.update(
        {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "s" * 64,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "WEB_CONCURRENCY": "1",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


def test_a_visitor_cannot_make_gunicorn_believe_the_request_came_over_tls(tmp_path):
    """With SSL redirects on and no proxy trusted, a plain-HTTP request is redirected to HTTPS, whatever
    X-Forwarded-Ssl or X-Forwarded-Proto it carries (gunicorn used to turn them into wsgi.url_scheme=https for
    any client on 127.0.0.1)."""
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = production_env(tmp_path, DJANGO_SECURE_SSL_REDIRECT="1", DJANGO_TRUST_X_FORWARDED_PROTO="0")
    with open(log, "w") as out:
        process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "aitracker.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        wait_for(url, process, log)
        assert status_of(url, {}) == 301
        assert status_of(url, {"X-Forwarded-Ssl": "on"}) == 301
        assert status_of(url, {"X-Forwarded-Protocol": "ssl"}) == 301
        assert status_of(url, {"X-Forwarded-Proto": "https"}) == 301
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


# --- the nginx front -----------------------------------------------------------------------------------------


def test_the_nginx_config_renders_with_every_path_under_the_run_folder(tmp_path):
    text = serve.render_nginx_config(run_dir=tmp_path, host="127.0.0.1", port=8123, upstream="unix:/x.sock")
    assert "listen 127.0.0.1:8123;" in text
    assert "server unix:/x.sock" in text
    assert "server_tokens off;" in text
    assert "daemon off;" in text
    assert "{{" not in text and "}}" not in text
    for directive in ("pid", "client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path"):
        line = next(line for line in text.splitlines() if line.strip().startswith(directive + " "))
        assert str(tmp_path) in line, line
    for directive in ("client_header_timeout", "client_body_timeout", "client_max_body_size", "proxy_buffering"):
        assert directive in text
    # Headers a visitor may send that gunicorn or Django could read as the scheme are replaced, never passed on.
    assert 'proxy_set_header X-Forwarded-Ssl "";' in text
    assert 'proxy_set_header X-Forwarded-Protocol "";' in text
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text


def test_behind_a_trusted_tls_proxy_nginx_passes_its_scheme_on(tmp_path):
    text = serve.render_nginx_config(
        run_dir=tmp_path, host="127.0.0.1", port=8123, upstream="unix:/x.sock", trust_forwarded_proto=True
    )
    assert "proxy_set_header X-Forwarded-Proto $http_x_forwarded_proto;" in text


def test_the_config_template_has_no_unknown_placeholder(tmp_path):
    with pytest.raises(KeyError):
        serve.render("listen {{ nowhere }};", {})


def require_nginx() -> str:
    nginx = serve.find_nginx()
    if not nginx:
        if os.environ.get("AITRACKER_REQUIRE_BROWSER"):
            pytest.fail("nginx not found; CI must install it (apt-get install nginx-light).")
        pytest.skip("nginx not found (apt-get install nginx-light)")
    return nginx


class Served:
    """`python -m deploy.serve` in its own session, as `make serve` runs it."""

    def __init__(self, tmp_path: Path, *, migrate: bool = False, **env):
        """Without the job worker unless AITRACKER_RUN_WORKER=1 (it needs a migrated database: `migrate`)."""
        require_nginx()
        env.setdefault("AITRACKER_RUN_WORKER", "0")
        if migrate:
            subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=production_env(tmp_path), check=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.run_dir = tmp_path / "run"
        self.log = tmp_path / "serve.log"
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                [PYTHON, "-m", "deploy.serve", "--host", "127.0.0.1", "--port", str(self.port), "--run-dir",
                 str(self.run_dir)],
                cwd=ROOT, env=production_env(tmp_path, **env), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        wait_for(self.url + "/healthz", self.process, self.log)

    def children(self) -> dict[str, int]:
        pids = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        names = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode() for pid in pids}
        return {
            ("nginx" if cmd.startswith("nginx") else "worker" if "db_worker" in cmd else "gunicorn"): int(pid)
            for pid, cmd in names.items()
        }

    def close(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def slow_socket(port: int) -> socket.socket:
    """A client that has sent the start of a request and will never finish its headers."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /commitments/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n")
    return sock


def slow_body_socket(port: int) -> socket.socket:
    """A client that has sent its headers and the first bytes of a body it will never finish."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 1000\r\n\r\nusername=slow"
    )
    return sock


def timed_get(url: str, headers: dict | None = None) -> tuple[float, urllib.request.http.client.HTTPResponse]:
    started = time.perf_counter()
    opener = urllib.request.build_opener(NoRedirect)
    try:
        response = opener.open(urllib.request.Request(url, headers=headers or {}), timeout=5)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        response.read()
    return time.perf_counter() - started, response


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    return " Z " not in stat  # a zombie is dead, waiting for its parent


def test_the_nginx_front_answers_while_slow_clients_hold_more_sockets_than_there_are_workers(tmp_path):
    served = Served(tmp_path, WEB_CONCURRENCY="1", DJANGO_SECURE_SSL_REDIRECT="1")
    sockets = []
    try:
        sockets = [slow_socket(served.port) for _ in range(3)] + [slow_body_socket(served.port) for _ in range(2)]
        time.sleep(0.5)
        for _ in range(3):
            seconds, response = timed_get(served.url + "/healthz")
            assert seconds < 1, seconds
            # Plain HTTP is redirected to HTTPS, whatever a visitor claims; nginx's Server header has no version
            # and gunicorn's is gone.
            assert response.status == 301
            assert response.headers["Server"] == "nginx"
        _, spoofed = timed_get(served.url + "/healthz", {"X-Forwarded-Ssl": "on", "X-Forwarded-Proto": "https"})
        assert spoofed.status == 301
        assert served.run_dir.joinpath("nginx.pid").exists()
        # A body over nginx's limit is refused before it is read, on a page that names no version either.
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
            sock.sendall(b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 104857600\r\n\r\n")
            answer = sock.recv(65536).decode(errors="replace")
        assert answer.startswith("HTTP/1.1 413"), answer
        assert "Server: nginx\r\n" in answer and "nginx/" not in answer
    finally:
        for sock in sockets:
            sock.close()
        served.close()


def test_ctrl_c_stops_nginx_gunicorn_and_the_job_worker_together(tmp_path):
    served = Served(
        tmp_path, migrate=True, AITRACKER_RUN_WORKER="1", WEB_CONCURRENCY="1", DJANGO_SECURE_SSL_REDIRECT="0"
    )
    try:
        deadline = time.monotonic() + 20
        while set(children := served.children()) != {"nginx", "gunicorn", "worker"} and time.monotonic() < deadline:
            time.sleep(0.2)
        assert set(children) == {"nginx", "gunicorn", "worker"}
        os.kill(served.process.pid, signal.SIGINT)
        assert served.process.wait(timeout=40) == 0
        assert not any(alive(pid) for pid in children.values())
    finally:
        served.close()


def test_when_nginx_dies_gunicorn_is_stopped_and_serve_fails(tmp_path):
    served = Served(tmp_path, WEB_CONCURRENCY="1", DJANGO_SECURE_SSL_REDIRECT="0")
    workers = []
    try:
        children = served.children()
        # nginx's workers outlive a master killed outright: end them too, or they keep the port for good.
        workers = child_pids(children["nginx"])
        os.kill(children["nginx"], signal.SIGKILL)
        assert served.process.wait(timeout=40) != 0
        assert not alive(children["gunicorn"])
        assert "nginx exited" in served.log.read_text()
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        served.close()


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is `parent` (read from /proc)."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            if int(fields.get("PPid", "0").strip()) == parent:
                pids.append(int(status.parent.name))
    return pids
