"""The events bus (asterweb/events.py) with accounts' journal and subscribers: per-organization
sequence numbers, transactions, and who hears what when."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from accounts.models import AuditEvent, Organization, OrganizationEvent
from accounts.services import audit_record
from accounts.tests.webhook_factories import WebhookEndpointFactory
from accounts.webhooks.models import WebhookDelivery
from asterweb import events
from asterweb.events import event_publish, event_subscribe


def sequences(org: Organization) -> list[int]:
    return list(OrganizationEvent.objects.for_org(org).order_by("sequence").values_list("sequence", flat=True))


def publish(org: Organization, reason: str = "left"):
    return event_publish(organization=org, type="member.removed", data={"member": {"id": 1}, "reason": reason})


@pytest.fixture
def recorder(monkeypatch):
    """Only the test's subscribers (the journal stays): calls recorded as (name, sequence)."""
    monkeypatch.setattr(events, "_SUBSCRIBERS", {})
    calls: list[tuple[str, int]] = []

    def subscribe(name: str, **kwargs):
        event_subscribe(name=name, handle=lambda event: calls.append((name, event.sequence)), **kwargs)

    return calls, subscribe


def test_each_organization_numbers_its_events_one_by_one(team, other_team):
    first, theirs = len(sequences(team.org)), len(sequences(other_team.org))
    for _ in range(3):
        publish(team.org)
    publish(other_team.org)
    assert sequences(team.org) == list(range(1, first + 4))
    assert sequences(other_team.org) == list(range(1, theirs + 2))


def test_a_rolled_back_transaction_publishes_nothing_and_gives_its_number_back(
    team, recorder, django_capture_on_commit_callbacks
):
    calls, subscribe = recorder
    subscribe("after_commit")
    before = sequences(team.org)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            publish(team.org)
            raise RuntimeError("the action failed")
    assert sequences(team.org) == before and calls == []
    with django_capture_on_commit_callbacks(execute=True):
        event = publish(team.org)
    assert event.sequence == len(before) + 1
    assert calls == [("after_commit", event.sequence)]


def test_subscribers_run_inside_the_transaction_or_after_it_commits(team, recorder, django_capture_on_commit_callbacks):
    calls, subscribe = recorder
    subscribe("inside", in_transaction=True)
    subscribe("after")
    subscribe("other_types", types=["organization.updated"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = publish(team.org)
        assert calls == [("inside", event.sequence)]
    for callback in callbacks:
        callback()
    assert calls == [("inside", event.sequence), ("after", event.sequence)]


def test_a_failing_subscriber_after_commit_does_not_stop_the_others(team, recorder, django_capture_on_commit_callbacks):
    calls, subscribe = recorder

    def broken(event):
        raise ConnectionError("the push failed")

    event_subscribe(name="broken", handle=broken)
    subscribe("after")
    with django_capture_on_commit_callbacks(execute=True):
        event = publish(team.org)
    assert calls == [("after", event.sequence)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishers_get_every_number_once_in_commit_order(team):
    start = len(sequences(team.org))
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(5):
                with transaction.atomic():
                    publish(team.org)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = list(OrganizationEvent.objects.for_org(team.org).order_by("created_at", "sequence"))
    assert [row.sequence for row in rows] == list(range(1, start + 21))


def test_the_audit_row_is_written_in_the_actions_transaction(team, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
        audit_record(action="organization.updated", organization=team.org)
        # Before commit: the audit row and its event are both in this transaction.
        assert AuditEvent.objects.for_org(team.org).filter(action="organization.updated").exists()
        assert OrganizationEvent.objects.for_org(team.org).filter(type="audit.recorded").exists()
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(action="organization.renamed", organization=team.org)
        raise RuntimeError
    assert not AuditEvent.objects.for_org(team.org).filter(action="organization.renamed").exists()


def test_only_webhook_types_reach_webhook_endpoints(team):
    endpoint = WebhookEndpointFactory(organization=team.org)  # subscribes to every type
    audit_record(action="organization.updated", organization=team.org)
    assert not WebhookDelivery.objects.for_org(team.org).exists()
    event = publish(team.org)
    delivery = WebhookDelivery.objects.for_org(team.org).get()
    assert (delivery.endpoint_id, delivery.event_id, delivery.event.type) == (endpoint.pk, event.id, "member.removed")


def test_publishing_an_undeclared_type_is_a_bug(team):
    with pytest.raises(events.UnknownEventType, match="declare it in its app's events"):
        event_publish(organization=team.org, type="bot.teleported", data={})
