#!/usr/bin/env python3
"""`make run`: set up and supervise the whole local system until Ctrl-C.

1. `scripts/services.py up` (idempotent: PostgreSQL + Redis, writes `.run/env`),
   then `.run/env` is loaded into the environment (variables already set win).
2. `manage.py migrate`, `collectstatic`, `seed_demo`; any failure stops here, loudly.
3. Starts, each in its own process group: gunicorn (HTTP, $PORT, default 8000),
   uvicorn (websockets under /ws/, $WS_PORT, default 8001), a Celery worker and
   Celery beat. Their output is prefixed with their names.
4. Ctrl-C / SIGTERM: SIGTERM to every child's process group, up to 10 s grace, then
   SIGKILL; then `services.py down` for what this session started (unless
   KEEP_SERVICES=1). If a child dies on its own, everything is stopped the same way
   and the exit status is non-zero, naming the child.

Uses the Python it runs under (the venv's) for every child: `python -m gunicorn` etc.
"""

# ruff: noqa: S603 - runs only this project's own tools, with fixed argument lists

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from services import read_env_file  # scripts/ is on sys.path when this file runs

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run"
ENV_FILE = RUN / "env"
SERVICES = ROOT / "scripts" / "services.py"
DEFAULT_SESSION = RUN / "run.session"
GRACE_SECONDS = 10.0

PY = sys.executable


def log(message: str) -> None:
    print(f"[run] {message}", flush=True)


def load_env_file(path: Path) -> None:
    """Put the file's KEY=value lines into os.environ without overriding what is already set."""
    for key, value in read_env_file(path).items():
        os.environ.setdefault(key, value)


def services(*args: str, quiet: bool = False) -> int:
    if not quiet:
        return subprocess.call([PY, str(SERVICES), *args], cwd=ROOT)
    result = subprocess.run([PY, str(SERVICES), *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
    return result.returncode


def manage(*args: str) -> None:
    log(f"manage.py {' '.join(args)}")
    rc = subprocess.call([PY, "manage.py", *args], cwd=ROOT)
    if rc != 0:
        raise SetupFailed(f"`manage.py {' '.join(args)}` failed with exit status {rc}")


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class SetupFailed(RuntimeError):
    pass


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen | None = None
    pump: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: Ctrl-C reaches us only, we stop them in order
            bufsize=1,
            text=True,
            errors="replace",
        )
        self.pump = threading.Thread(target=self._pump, name=f"pump-{self.name}", daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        prefix = f"[{self.name}] "
        for line in self.proc.stdout:
            sys.stdout.write(prefix + line if line.endswith("\n") else prefix + line + "\n")
            sys.stdout.flush()

    def signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def group_alive(self) -> bool:
        if self.proc is None:
            return False
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            self.proc.poll()
            return False
        except PermissionError:
            return True
        self.proc.poll()  # reap the leader if it exited; its group may still hold workers
        return True


def children(port: int, ws_port: int) -> list[Child]:
    queues = "celery,bots,backtests,indexing,webhooks"
    return [
        Child("web", [PY, "-m", "gunicorn", "asterweb.wsgi:application", "--bind", f"127.0.0.1:{port}",
                      "-c", str(ROOT / "asterweb" / "gunicorn_conf.py"),
                      "--control-socket", str(RUN / "gunicorn.ctl")]),
        Child("ws", [PY, "-m", "uvicorn", "asterweb.asgi:application", "--host", "127.0.0.1",
                     "--port", str(ws_port), "--lifespan", "off"]),
        Child("worker", [PY, "-m", "celery", "-A", "asterweb", "worker", "-l", "info", "-Q", queues,
                         "--concurrency", "2"]),
        Child("beat", [PY, "-m", "celery", "-A", "asterweb", "beat", "-l", "info",
                       "-s", str(RUN / "celerybeat-schedule")]),
    ]  # fmt: skip


def stop_all(kids: list[Child]) -> None:
    running = [k for k in kids if k.group_alive()]
    if not running:
        return
    log("stopping " + ", ".join(k.name for k in running) + " ...")
    for kid in running:
        kid.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline and any(k.group_alive() for k in running):
        time.sleep(0.1)
    for kid in running:
        if kid.group_alive():
            log(f"{kid.name} did not stop within {GRACE_SECONDS:.0f} s: SIGKILL")
            kid.signal_group(signal.SIGKILL)
    for kid in running:
        if kid.proc is not None:
            try:
                kid.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if kid.pump is not None:
            kid.pump.join(1)


def wait_for_port(port: int, kids: list[Child], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_in_use(port):
            return True
        if any(k.proc is not None and k.proc.poll() is not None for k in kids):
            return False
        time.sleep(0.2)
    return False


def main() -> int:
    os.chdir(ROOT)
    via_make = bool(os.environ.get("ASTERAI_SESSION"))  # `make run` has just run `services.py up`
    session = Path(os.environ.get("ASTERAI_SESSION") or DEFAULT_SESSION)
    os.environ["ASTERAI_SESSION"] = str(session)
    keep_services = bool(os.environ.get("KEEP_SERVICES"))

    stopping = threading.Event()

    def on_signal(_signum, _frame):
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    kids: list[Child] = []
    exit_code = 0
    failed: str | None = None
    try:
        if services("up", quiet=via_make) != 0:
            raise SetupFailed("scripts/services.py up failed")
        load_env_file(ENV_FILE)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "asterweb.settings.dev")
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        port = int(os.environ.get("PORT") or 8000)
        ws_port = int(os.environ.get("WS_PORT") or 8001)
        for p in (port, ws_port):
            if port_in_use(p):
                raise SetupFailed(f"port {p} on 127.0.0.1 is already in use (set PORT / WS_PORT to others)")

        for step in (("migrate", "--noinput"), ("collectstatic", "--noinput"), ("seed_demo",)):
            if stopping.is_set():
                raise KeyboardInterrupt
            try:
                manage(*step)
            except SetupFailed:
                if stopping.is_set():  # Ctrl-C reached manage.py too: not a failure
                    raise KeyboardInterrupt from None
                raise

        kids = children(port, ws_port)
        for kid in kids:
            kid.start()
            log(f"started {kid.name} (pid {kid.proc.pid}): {' '.join(kid.argv[1:])}")

        email = os.environ.get("DEMO_EMAIL", "demo@asterai.local")
        password = os.environ.get("DEMO_PASSWORD", "asterai-demo-2026")
        ready = wait_for_port(port, kids)
        bar = "=" * 72
        print(
            f"\n{bar}\n"
            f"  AsterAI is {'up' if ready else 'starting (web not answering yet)'}\n"
            f"  Site:       http://127.0.0.1:{port}/\n"
            f"  Websockets: ws://127.0.0.1:{ws_port}/ws/\n"
            f"  Demo login: {email} / {password}\n"
            f"  Ctrl-C stops everything make run started.\n"
            f"{bar}\n",
            flush=True,
        )

        while not stopping.is_set():
            dead = [k for k in kids if k.proc is not None and k.proc.poll() is not None]
            if dead:
                kid = dead[0]
                failed = f"{kid.name} exited unexpectedly with status {kid.proc.returncode}"
                log(f"{failed}; stopping everything")
                exit_code = 1
                break
            stopping.wait(0.5)
    except SetupFailed as exc:
        log(f"ERROR: {exc}")
        exit_code = 1
    except KeyboardInterrupt:
        pass
    finally:
        # Ignore further Ctrl-C while shutting down so the clean-up is not cut short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all(kids)
        if keep_services:
            log("KEEP_SERVICES set: PostgreSQL and Redis left running")
        elif session.exists():
            services("down", "--session", str(session))
    if failed:
        log(f"FAILED: {failed}")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
