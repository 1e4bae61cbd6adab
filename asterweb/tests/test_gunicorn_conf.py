"""The web server's worker layout (asterweb/gunicorn_conf.py), as gunicorn reads it."""

from __future__ import annotations

import runpy
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
