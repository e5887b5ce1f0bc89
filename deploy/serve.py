"""Serve aitracker as in production: gunicorn on a private UNIX socket, nginx in front of it on HOST:PORT.

    python -m deploy.serve --host 127.0.0.1 --port 8000 [--run-dir .run/serve-8000]

`make serve` runs this after its setup. It renders deploy/nginx.conf.template into the run folder (git-ignored;
the socket, nginx's pid, temporary files and logs all live there, so nothing needs root), starts gunicorn
(gunicorn.conf.py) bound to the socket, waits until it answers, then starts nginx in the foreground, and the
background-job worker (`manage.py db_worker`, see aitracker/tasks.py) beside them. Ctrl-C (SIGINT) or SIGTERM
stops all three; if nginx or gunicorn dies, the others are stopped and this exits with an error. A worker that
dies is started again after WORKER_RESTART_SECONDS: the site serves without it, jobs wait in the database.
`--no-worker` (or AITRACKER_RUN_WORKER=0) when workers run on other machines. No Django import here: the app
runs in gunicorn's and the worker's processes only.

Why nginx: see deploy/nginx.conf.template and the README ("Serving in production").
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
# A UNIX socket's path must fit in sun_path (108 bytes on Linux, including the final NUL).
MAX_SOCKET_PATH = 107
WORKER_RESTART_SECONDS = 5
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def render(template: str, values: dict) -> str:
    """Fill in {{ name }}; a name with no value is an error (KeyError), never an empty string in the config."""
    return _PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), template)


def env_bool(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def render_nginx_config(
    *, run_dir: Path, host: str, port: int, upstream: str, trust_forwarded_proto: bool = False
) -> str:
    """The nginx configuration for one run folder.

    Behind a TLS-terminating proxy that Django trusts (DJANGO_TRUST_X_FORWARDED_PROTO=1), nginx passes that
    proxy's X-Forwarded-Proto on; otherwise it says what it saw itself ($scheme: http), and Django ignores it.
    """
    return render(
        TEMPLATE.read_text(),
        {
            "run_dir": Path(run_dir).resolve(),
            "host": host,
            "port": port,
            "upstream": upstream,
            "forwarded_proto": "$http_x_forwarded_proto" if trust_forwarded_proto else "$scheme",
            "user": worker_user_directive(),
        },
    )


def worker_user_directive() -> str:
    """Run by an ordinary user, nginx's workers are that user (the directive is ignored, so none is written).
    Run by root, nginx would switch them to `nobody`, who cannot reach a run folder inside a private home or
    temporary folder; they stay root, as gunicorn's workers do then: the privilege is whoever runs make serve,
    so run it as an ordinary user."""
    return "user root root;" if os.geteuid() == 0 else "# (workers run as the user who started nginx)"


def find_nginx() -> str | None:
    # Debian puts it in /usr/sbin, which an unprivileged user's PATH often lacks.
    return (
        os.environ.get("NGINX")
        or shutil.which("nginx")
        or next((path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)), None)
    )


def prepare_run_dir(run_dir: Path) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir.chmod(0o700)  # the socket inside answers anyone who can reach it: only this user can
    for name in TEMP_DIRS:
        (run_dir / "tmp" / name).mkdir(parents=True, exist_ok=True)
    return run_dir


def unix_socket_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def tcp_port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def worker_commands() -> list[list[str]]:
    """Jobs left running by a worker that died are queued again, then the worker runs every queue."""
    manage = [sys.executable, str(ROOT / "manage.py")]
    return [
        [*manage, "requeue_stalled_jobs"],
        [*manage, "db_worker", "--no-reload", "--queue-name", "*", "--interval", "1"],
    ]


class Supervisor:
    """gunicorn and nginx, started in that order, stopped together; the job worker beside them."""

    def __init__(
        self, *, host: str, port: int, run_dir: Path, nginx: str, env: dict, stdout=None, stderr=None, worker=True
    ):
        self.host, self.port, self.run_dir, self.nginx = host, port, run_dir, nginx
        self.env, self.stdout, self.stderr = env, stdout, stderr
        self.socket_path = run_dir / "gunicorn.sock"
        self.config_path = run_dir / "nginx.conf"
        self.processes: dict[str, subprocess.Popen] = {}
        self.stopping = False
        self.worker = worker
        self.worker_process: subprocess.Popen | None = None
        self.worker_started_at = 0.0

    def start_worker(self) -> None:
        """Queue stalled jobs again, then start the worker (in the background: the site does not wait for it)."""
        requeue, worker = worker_commands()
        subprocess.run(requeue, cwd=ROOT, env=self.env, stdout=self.stdout, stderr=self.stderr, check=False)
        self.worker_process = subprocess.Popen(worker, cwd=ROOT, env=self.env, stdout=self.stdout, stderr=self.stderr)
        self.worker_started_at = time.monotonic()

    def watch_worker(self) -> None:
        if not self.worker or self.stopping or self.worker_process is None:
            return
        exited = self.worker_process.poll() is not None
        if exited and time.monotonic() - self.worker_started_at >= WORKER_RESTART_SECONDS:
            print(f"the job worker exited with {self.worker_process.returncode}; starting it again",
                  file=sys.stderr, flush=True)  # fmt: skip
            self.start_worker()

    def nginx_command(self, *extra: str) -> list[str]:
        # -e: nginx opens its error log before it reads the config; the default one is under /var/log.
        prefix = f"{self.run_dir}/"
        return [
            self.nginx,
            "-p",
            prefix,
            "-e",
            str(self.run_dir / "nginx-error.log"),
            "-c",
            str(self.config_path),
            *extra,
        ]

    def write_config(self) -> None:
        text = render_nginx_config(
            run_dir=self.run_dir,
            host=self.host,
            port=self.port,
            upstream=f"unix:{self.socket_path}",
            trust_forwarded_proto=env_bool(self.env.get("DJANGO_TRUST_X_FORWARDED_PROTO")),
        )
        self.config_path.write_text(text)
        check = subprocess.run(self.nginx_command("-t", "-q"), capture_output=True, text=True)
        if check.returncode != 0:
            raise SystemExit(f"nginx refuses {self.config_path}:\n{check.stderr.strip()}")

    def start(self, *, ready_timeout: float = 120) -> None:
        if len(str(self.socket_path)) > MAX_SOCKET_PATH:
            raise SystemExit(f"The run folder's path is too long for a UNIX socket: {self.socket_path}")
        self.socket_path.unlink(missing_ok=True)
        self.write_config()
        self.processes["gunicorn"] = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--bind",
             f"unix:{self.socket_path}", "aitracker.wsgi"],
            cwd=ROOT, env=self.env, stdout=self.stdout, stderr=self.stderr,
        )  # fmt: skip
        self._wait(lambda: unix_socket_answers(self.socket_path), "gunicorn", ready_timeout)
        self.processes["nginx"] = subprocess.Popen(
            self.nginx_command(), cwd=self.run_dir, env=self.env, stdout=self.stdout, stderr=self.stderr
        )
        self._wait(lambda: tcp_port_answers(self.host, self.port), "nginx", ready_timeout)
        if self.worker:
            self.start_worker()

    def _wait(self, ready, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.stopping:  # Ctrl-C while starting
                self.stop()
                raise SystemExit(0)
            for other, process in self.processes.items():
                if process.poll() is not None:
                    self.stop()
                    raise SystemExit(f"{other} exited with {process.returncode} before {name} was ready")
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"{name} was not ready within {timeout:g} s")
            time.sleep(0.1)

    def stop(self) -> None:
        """nginx first (no new requests reach gunicorn), then gunicorn, each gracefully, then by force."""
        self.stopping = True
        for name, sig in (("nginx", signal.SIGQUIT), ("gunicorn", signal.SIGTERM)):
            process = self.processes.get(name)
            if process and process.poll() is None:
                process.send_signal(sig)
                try:
                    process.wait(timeout=25)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        # The worker finishes the job in hand (db_worker stops gracefully on SIGTERM), then exits.
        if self.worker_process and self.worker_process.poll() is None:
            self.worker_process.send_signal(signal.SIGTERM)
            try:
                self.worker_process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.worker_process.kill()
                self.worker_process.wait()

    def wait(self) -> int:
        """Until a signal asks us to stop (0) or a process dies on its own (its exit code, at least 1)."""
        while not self.stopping:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    if self.stopping:
                        break
                    print(f"{name} exited with {process.returncode}; stopping the other", file=sys.stderr)
                    self.stop()
                    return process.returncode or 1
            self.watch_worker()
            time.sleep(0.2)
        self.stop()
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--run-dir", type=Path, help="default: .run/serve-PORT in the project folder")
    parser.add_argument(
        "--worker",
        action=argparse.BooleanOptionalAction,
        default=env_bool(os.environ.get("AITRACKER_RUN_WORKER", "1")),
        help="start the background-job worker too (default: yes; AITRACKER_RUN_WORKER=0 for no)",
    )
    args = parser.parse_args(argv)

    nginx = find_nginx()
    if not nginx:
        print(
            "make serve needs nginx in front of gunicorn: apt-get install nginx-light (Debian/Ubuntu).", file=sys.stderr
        )
        return 2
    run_dir = prepare_run_dir((args.run_dir or ROOT / ".run" / f"serve-{args.port}").resolve())
    env = dict(os.environ)
    # nginx appends the visitor's address to X-Forwarded-For: count it as a proxy (add any in front of it).
    env.setdefault("DJANGO_TRUSTED_PROXY_COUNT", "1")
    if os.geteuid() == 0:
        print("Running as root: nginx's and gunicorn's workers run as root too; serve as an ordinary user.",
              file=sys.stderr)  # fmt: skip
    supervisor = Supervisor(host=args.host, port=args.port, run_dir=run_dir, nginx=nginx, env=env, worker=args.worker)

    def on_signal(signum, frame):
        supervisor.stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    supervisor.start()
    print(f"Serving on http://{args.host}:{args.port} (nginx -> gunicorn on {supervisor.socket_path}; "
          f"logs in {run_dir}; Ctrl-C to stop)", flush=True)  # fmt: skip
    return supervisor.wait()


if __name__ == "__main__":
    sys.exit(main())
