"""A lost enqueue (the broker refused or never answered) fails neither the request that made it
nor the corpus: the corpus stays "indexing", and the beat sweep sends its run again once it has
been left alone for PATTERNS_INDEXING_STUCK_MINUTES. The broker here is a real dead socket and
the real Celery publisher, with the broker timeouts from settings."""

from __future__ import annotations

import signal
import socket
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone
from kombu import pools as kombu_pools

from asterweb.celery import app
from patterns.models import Corpus
from patterns.services.corpora import corpus_create, corpus_schedule_index
from patterns.services.indexing import _LOCK_NAMESPACE, corpora_requeue_stuck

pytestmark = pytest.mark.django_db
STUCK = timedelta(minutes=15)


class Hang(BaseException):
    """Not an Exception: no library's error handling can swallow it."""


def hang(*_args):
    raise Hang("the enqueue hangs")


@contextmanager
def dead_broker(kind: str):
    """Celery publishing for real (not eagerly) to a broker that refuses or never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        if kind == "blackholed":
            sock.listen(1)
        url = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
        if kind == "refused":
            sock.close()
        saved = app.conf.broker_url, app.conf.task_always_eager
        app.conf.broker_url, app.conf.task_always_eager = url, False
        reset_publisher()
        signal.signal(signal.SIGALRM, hang)
        signal.setitimer(signal.ITIMER_REAL, 30)  # a hang check: a few broker timeouts fit in it
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            app.conf.broker_url, app.conf.task_always_eager = saved
            reset_publisher()


def reset_publisher() -> None:
    """Drop the app's connection and producer pools, so the next publish uses the current broker.
    kombu keeps its pools in process-wide registries keyed by broker: those are cleared too, or a
    later test's publish would get the pool closed here ("Acquire on closed pool")."""
    app._pool, app.amqp._producer_pool = None, None
    kombu_pools.reset()


@pytest.fixture
def private_corpus(team):
    return corpus_create(organization=team.org, user=team.owner, name="Desk notes")


def age(corpus: Corpus, by: timedelta) -> None:
    Corpus.all_objects.filter(pk=corpus.pk).update(status_changed_at=timezone.now() - by)


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr("patterns.tasks.index_corpus.delay", lambda corpus_id, full=False: calls.append(corpus_id))
    return calls


@pytest.mark.parametrize("kind", ["refused", "blackholed"])
def test_a_lost_enqueue_leaves_the_corpus_queued_for_the_sweep(
    private_corpus, kind, django_capture_on_commit_callbacks
):
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"] > 0
    with dead_broker(kind), django_capture_on_commit_callbacks(execute=True):
        corpus_schedule_index(private_corpus)  # no exception reaches the caller
    private_corpus.refresh_from_db()
    assert (private_corpus.status, private_corpus.status_message) == (Corpus.Status.INDEXING, "Queued")


def test_the_sweep_sends_corpora_left_indexing_and_only_those(private_corpus, team, sent):
    recent = corpus_create(organization=team.org, user=team.owner, name="Fresh")
    ready = corpus_create(organization=team.org, user=team.owner, name="Done")
    Corpus.all_objects.filter(pk__in=[private_corpus.pk, recent.pk]).update(status=Corpus.Status.INDEXING)
    Corpus.all_objects.filter(pk=ready.pk).update(status=Corpus.Status.READY)
    age(private_corpus, STUCK + timedelta(minutes=1))
    age(ready, STUCK * 4)
    age(recent, STUCK - timedelta(minutes=1))
    assert corpora_requeue_stuck(older_than=STUCK) == [private_corpus.pk]
    assert sent == [private_corpus.pk]
    assert corpora_requeue_stuck(older_than=STUCK) == []  # sent once per period, not every sweep


def test_the_sweep_leaves_a_corpus_a_run_is_indexing(private_corpus, sent):
    Corpus.all_objects.filter(pk=private_corpus.pk).update(status=Corpus.Status.INDEXING)
    age(private_corpus, STUCK * 2)
    worker = connections.create_connection("default")  # a run in another process holds the corpus
    try:
        with worker.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, private_corpus.pk])
        assert corpora_requeue_stuck(older_than=STUCK) == []
    finally:
        worker.close()
    assert corpora_requeue_stuck(older_than=STUCK) == [private_corpus.pk]
    assert sent == [private_corpus.pk]


def test_the_sweep_runs_on_beat():
    schedule = settings.CELERY_BEAT_SCHEDULE.values()
    entry = next(e for e in schedule if e["task"] == "patterns.tasks.corpora_requeue_stuck")
    assert entry["schedule"] <= settings.PATTERNS_INDEXING_STUCK_MINUTES * 60
