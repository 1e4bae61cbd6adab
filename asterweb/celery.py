"""The Celery application, configured from Django settings (namespace CELERY_)."""

from typing import Any

import structlog
from celery import Celery
from celery.signals import task_postrun, task_prerun

from asterweb.settings import settings_module_required

settings_module_required()

app = Celery("asterweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _bind_task_context(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    """Every log line of a task carries its id and name, as request lines carry the request id."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task_id=task_id, task=getattr(task, "name", None))


@task_postrun.connect
def _clear_task_context(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()
