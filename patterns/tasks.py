"""Celery tasks of pattern search. Indexing is per corpus; a run that finds the corpus busy
retries later, so an upload made during a run is never left unindexed. A run embeds for at
most ``EMBED_SECONDS_PER_RUN`` and then continues in a fresh task, well inside the task time
limits however large the corpus (73,608 Reddit headlines take several runs)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from patterns.services.indexing import CorpusBusy, corpora_requeue_stuck, corpus_index

EMBED_SECONDS_PER_RUN = 180


@shared_task(bind=True, name="patterns.tasks.index_corpus", max_retries=20, acks_late=True)
def index_corpus(self, corpus_id: int, full: bool = False) -> dict:
    try:
        report = corpus_index(corpus_id, full=full, embed_seconds=EMBED_SECONDS_PER_RUN)
    except CorpusBusy as busy:
        raise self.retry(exc=busy, countdown=15) from busy
    if not report.complete:
        index_corpus.delay(corpus_id, full=full)
    return report.as_dict()


@shared_task(name="patterns.tasks.astro_table_fill")
def astro_table_fill() -> int:
    """Compute every missing day of the astro table (1900-2050)."""
    from patterns.encoders import astro
    from patterns.services.astro_table import astro_table_ensure

    return astro_table_ensure(astro.MIN_DATE, astro.MAX_DATE)


@shared_task(name="patterns.tasks.corpora_requeue_stuck")
def corpora_requeue_stuck_task() -> list[int]:
    """Beat: corpora stuck in "indexing" after a lost enqueue get their run sent again."""
    return corpora_requeue_stuck(older_than=timedelta(minutes=settings.PATTERNS_INDEXING_STUCK_MINUTES))
