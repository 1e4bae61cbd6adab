"""Two workers claiming deliveries at the same time, each on its own PostgreSQL connection,
never send the same attempt twice (SELECT ... FOR UPDATE SKIP LOCKED plus a lease)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.tests.factories import OrganizationFactory
from accounts.tests.webhook_factories import WebhookDeliveryFactory, WebhookEndpointFactory
from accounts.tests.webhook_receiver import start_receiver
from accounts.webhooks import delivery
from accounts.webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver():
    receiver = start_receiver()
    receiver.behaviour.delay = 0.05  # long enough for the two workers' batches to overlap
    yield receiver
    receiver.close()


def due_deliveries(receiver, count: int) -> list[WebhookDelivery]:
    organization = OrganizationFactory()
    endpoint = WebhookEndpointFactory(organization=organization, url=receiver.url)
    return [
        WebhookDeliveryFactory(
            endpoint=endpoint, state=WebhookDelivery.State.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        for _ in range(count)
    ]


def run_in_threads(*targets) -> list:
    """Run each target in its own thread (so on its own database connection), all released at once."""
    start = threading.Barrier(len(targets))
    results: list = [None] * len(targets)
    errors: list[BaseException] = []

    def run(index: int, target) -> None:
        try:
            start.wait()
            results[index] = target()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, target)) for i, target in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def test_two_workers_sweeping_together_deliver_each_event_exactly_once(receiver):
    rows = due_deliveries(receiver, 30)

    def worker() -> int:
        return delivery.webhook_deliveries_send_due(batch_size=3)

    attempts = run_in_threads(worker, worker)

    received = Counter(request.headers["AsterAI-Event-Id"] for request in receiver.requests)
    assert received == Counter({row.event_id: 1 for row in rows})
    assert sum(attempts) == 30 and all(count > 0 for count in attempts), attempts  # both really worked
    settled = WebhookDelivery.all_objects.filter(pk__in=[row.pk for row in rows])
    assert {(row.state, row.attempts) for row in settled} == {(WebhookDelivery.State.SUCCEEDED, 1)}


def test_a_claim_in_progress_is_skipped_and_a_committed_claim_is_leased(receiver):
    rows = due_deliveries(receiver, 6)
    first_claimed = threading.Event()
    second_done = threading.Event()

    def slow_worker() -> list[int]:
        with transaction.atomic():  # hold the row locks until the other worker has claimed
            claims = delivery.webhook_deliveries_claim(limit=4)
            first_claimed.set()
            second_done.wait(timeout=30)
        return [claim.delivery_id for claim in claims]

    def other_worker() -> list[int]:
        first_claimed.wait(timeout=30)
        try:
            return [claim.delivery_id for claim in delivery.webhook_deliveries_claim(limit=10)]
        finally:
            second_done.set()

    slow, other = run_in_threads(slow_worker, other_worker)

    assert len(slow) == 4 and len(other) == 2
    assert set(slow).isdisjoint(other) and set(slow) | set(other) == {row.pk for row in rows}
    # Both claims have committed: every row is leased, so a third worker finds nothing due.
    assert delivery.webhook_deliveries_claim(limit=10) == []
    assert receiver.requests == []
