"""Settings per environment: base (shared), dev, test, prod."""

import os

from django.core.exceptions import ImproperlyConfigured


def settings_module_required() -> None:
    """Entry points (wsgi, asgi, celery) start only with settings chosen on purpose: falling back
    to development settings would run production with DEBUG on and a public SECRET_KEY."""
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        raise ImproperlyConfigured(
            "DJANGO_SETTINGS_MODULE is not set: set it to asterweb.settings.prod in production "
            "(asterweb.settings.dev for local development; `make run` does)."
        )
