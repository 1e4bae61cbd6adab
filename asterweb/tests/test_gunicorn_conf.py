"""The web server's worker layout (asterweb/gunicorn_conf.py), as gunicorn reads it."""

from __future__ import annotations

import os
import runpy
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parent.parent / "gunicorn_conf.py"


def layout() -> dict:
    return runpy.run_path(str(CONF))


def test_defaults_are_two_workers_per_core_with_two_threads(monkeypatch):
    monkeypatch.delenv("WEB_WORKERS", raising=False)
    monkeypatch.delenv("WEB_THREADS", raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2})
    settings = layout()
    assert (settings["workers"], settings["threads"], settings["worker_class"]) == (6, 2, "gthread")
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(32)))
    assert layout()["workers"] == 8  # capped: each worker holds its own sentence encoder


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("WEB_WORKERS", "3")
    monkeypatch.setenv("WEB_THREADS", " 8 ")
    settings = layout()
    assert (settings["workers"], settings["threads"]) == (3, 8)


@pytest.mark.parametrize(("value", "message"), [("two", "invalid literal"), ("0", "WEB_WORKERS must be at least 1")])
def test_bad_values_stop_the_start(monkeypatch, value, message):
    monkeypatch.setenv("WEB_WORKERS", value)
    with pytest.raises(ValueError, match=message):
        layout()


def test_every_launcher_uses_this_file():
    root = CONF.parent.parent
    for launcher in ("scripts/run.py", "Dockerfile", "docker-compose.yml"):
        text = (root / launcher).read_text()
        assert "gunicorn_conf.py" in text and "--workers" not in text, launcher


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_never_prints_request_paths_even_when_told_to(tmp_path):
    """Paths carry secrets (password-reset and email-confirmation keys, invitation tokens); the
    redacting request log (asterweb.logging) is the only request log. Launched as the image's
    command line was, with ``--access-logfile -``."""
    port, output = free_port(), tmp_path / "gunicorn.log"
    env = {**os.environ, "WEB_WORKERS": "1", "WEB_THREADS": "1"}
    command = [sys.executable, "-m", "gunicorn", "asterweb.tests.plain_wsgi:application", "-c", str(CONF),
               "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "--error-logfile", "-"]  # fmt: skip
    with output.open("w") as sink:
        server = subprocess.Popen(command, cwd=CONF.parent.parent, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            body = None
            for _ in range(100):  # up to ~10 s for the worker to boot
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/password/reset/key/{SECRET}/") as r:
                        body = r.read()
                    break
                except OSError:
                    time.sleep(0.1)
            assert body == b"ok"
        finally:
            server.terminate()
            server.wait(10)
    log = output.read_text()
    assert "Booting worker" in log  # gunicorn's own log still arrives
    assert SECRET not in log and "/accounts/password/reset" not in log


SECRET = "1a-c5x9kq-7f3e0b2d44c1a9e8"


def test_web_workers_get_a_statement_timeout_unless_one_is_set(monkeypatch):
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_SECONDS", "placeholder")  # restored after the test
    monkeypatch.delenv("DB_STATEMENT_TIMEOUT_SECONDS")
    layout()
    assert os.environ["DB_STATEMENT_TIMEOUT_SECONDS"] == "30"
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_SECONDS", "12")
    layout()
    assert os.environ["DB_STATEMENT_TIMEOUT_SECONDS"] == "12"
