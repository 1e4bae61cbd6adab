"""The servers' entry points (wsgi for gunicorn, asgi for uvicorn, celery for the worker and beat)
refuse to start without DJANGO_SETTINGS_MODULE instead of quietly running development settings
(DEBUG on, a public SECRET_KEY) in production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize("module", ["asterweb.wsgi", "asterweb.asgi", "asterweb.celery"])
def test_an_entry_point_without_a_settings_module_refuses_to_start(module):
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    started = subprocess.run(
        [sys.executable, "-c", f"import {module}; print('started')"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert started.returncode != 0
    assert "started" not in started.stdout
    assert "DJANGO_SETTINGS_MODULE is not set" in started.stderr


def test_an_entry_point_with_a_settings_module_starts():
    started = subprocess.run(
        [sys.executable, "-c", "import asterweb.celery; print('started')"],
        cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "asterweb.settings.test"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert "started" in started.stdout
