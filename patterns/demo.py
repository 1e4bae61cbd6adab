"""Patterns' part of the demo (registered in ``PatternsConfig.ready``): the public corpora."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command

from accounts.demo import DemoContext


def demo_pattern_corpora_seed(context: DemoContext) -> None:
    """Public corpora (where this deployment enables them): rows and headlines now, the astro
    table and indexing in Celery (the worker of ``make run`` picks them up)."""
    if not settings.PATTERNS_PUBLIC_CORPORA or not context.data_dir.is_dir():
        return
    from patterns.tasks import astro_table_fill

    call_command("build_patterns", "--queue", "--skip-astro", stdout=context.stdout)
    astro_table_fill.delay()
