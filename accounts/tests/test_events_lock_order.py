"""Lock order between the events bus and webhook endpoints. Publishing takes the organization's
counter row and then, in the webhook subscriber, queues deliveries (a foreign key to each endpoint:
FOR KEY SHARE on its row). Endpoint writes lock the endpoint and then audit (the counter). They
must not lock the endpoint in a mode that waits for a queued delivery, or the two wait for each
other until PostgreSQL kills one with a deadlock error."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import AuditEvent, OrganizationEvent
from accounts.tests.webhook_factories import WebhookDeliveryFactory, WebhookEndpointFactory
from accounts.webhooks import delivery, services
from accounts.webhooks.models import WebhookDelivery, WebhookEndpoint
from asterweb.events import event_publish

pytestmark = pytest.mark.django_db(transaction=True)

# How long the endpoint write waits for the publisher to finish before auditing anyway: past it,
# the publisher is stuck behind the endpoint lock (the defect), and auditing closes the cycle.
PUBLISHER_GRACE_SECONDS = 3.0


def _update(team, endpoint):
    services.webhook_endpoint_update(
        organization=team.org, actor=team.owner, endpoint=endpoint, description="renamed while an event goes out"
    )


def _rotate(team, endpoint):
    services.webhook_endpoint_rotate_secret(organization=team.org, actor=team.owner, endpoint=endpoint)


def _disable_after_failures(team, endpoint):
    """A delivery worker's failed attempt after DISABLE_AFTER of failures disables the endpoint."""
    failing = WebhookDeliveryFactory(endpoint=endpoint, state=WebhookDelivery.State.PENDING)
    with transaction.atomic():
        assert delivery._note_endpoint_health(failing, ok=False, now=timezone.now()) is not None


@pytest.mark.parametrize(
    ("endpoint_write", "module"),
    [(_update, services), (_rotate, services), (_disable_after_failures, delivery)],
    ids=["update", "rotate_secret", "worker_disables"],
)
def test_an_endpoint_write_and_an_event_published_at_once_both_commit(team, monkeypatch, endpoint_write, module):
    endpoint = WebhookEndpointFactory(
        organization=team.org, failing_since=timezone.now() - delivery.DISABLE_AFTER - timedelta(hours=1)
    )  # subscribes to every type
    endpoint_locked = threading.Event()
    published = threading.Event()
    real_audit_record = module.audit_record

    def audit_after_the_publisher(**kwargs):
        # The endpoint row is locked by now; let the publisher queue its delivery first.
        endpoint_locked.set()
        published.wait(PUBLISHER_GRACE_SECONDS)
        return real_audit_record(**kwargs)

    monkeypatch.setattr(module, "audit_record", audit_after_the_publisher)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            endpoint_write(team, endpoint)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    def publish() -> None:
        try:
            endpoint_locked.wait(10)
            with transaction.atomic():
                event_publish(
                    organization=team.org, type="member.removed", data={"member": {"id": 1}, "reason": "left"}
                )
                published.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            published.set()
            connection.close()

    threads = [threading.Thread(target=write), threading.Thread(target=publish)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert WebhookDelivery.objects.for_org(team.org).filter(endpoint=endpoint, event__type="member.removed").exists()
    assert OrganizationEvent.objects.for_org(team.org).filter(type="audit.recorded").exists()


def test_an_endpoint_deleted_while_another_admin_updates_it_both_commit(team, monkeypatch):
    """The update locks the endpoint then audits; the delete must not audit (hold the counter)
    and then wait for the endpoint row, or each waits for the other."""
    endpoint = WebhookEndpointFactory(organization=team.org)
    endpoint_locked = threading.Event()
    real_audit_record = services.audit_record

    def audit_late(**kwargs):
        if kwargs["action"] == "webhook_endpoint.updated":
            endpoint_locked.set()
            time.sleep(PUBLISHER_GRACE_SECONDS)  # the delete runs meanwhile
        return real_audit_record(**kwargs)

    monkeypatch.setattr(services, "audit_record", audit_late)
    errors: list[BaseException] = []

    def run(work) -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    def delete() -> None:
        endpoint_locked.wait(10)
        services.webhook_endpoint_delete(organization=team.org, actor=team.owner, endpoint=endpoint)

    threads = [
        threading.Thread(target=run, args=(lambda: _update(team, endpoint),)),
        threading.Thread(target=run, args=(delete,)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert not WebhookEndpoint.objects.for_org(team.org).filter(pk=endpoint.pk).exists()
    deleted = AuditEvent.objects.for_org(team.org).get(action="webhook_endpoint.deleted")
    assert deleted.target_id == str(endpoint.pk)
