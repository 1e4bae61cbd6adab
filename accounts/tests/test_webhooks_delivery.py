"""Delivering webhooks to a real HTTP receiver on loopback: the signature the documentation
teaches verifies, failures are retried with backoff until 24 hours after the first attempt,
an endpoint failing for 3 days is disabled (admins emailed), and redelivery works."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.roles import Role
from accounts.tests.webhook_factories import WebhookEventFactory
from accounts.tests.webhook_receiver import start_receiver
from accounts.webhooks import delivery, services, tasks
from accounts.webhooks.docs import VERIFY_SNIPPET
from accounts.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from asterweb.events import Event, UnknownEventType, event_publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    receiver = start_receiver()
    yield receiver
    receiver.close()


def documented_verifier():
    """The verification function exactly as the documentation page prints it."""
    namespace: dict = {}
    exec(compile(VERIFY_SNIPPET, "docs/webhooks.html", "exec"), namespace)
    return namespace


def independent_verify(body: bytes, header: str, secret: str) -> bool:
    """The signature scheme, written from its description: HMAC-SHA256 keyed with the secret
    over "<t>.<raw body>", hex, in any v1 field."""
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        name, value = item.split("=", 1)
        fields.setdefault(name, []).append(value)
    mac = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)
    mac.update(fields["t"][0].encode("ascii"))
    mac.update(b".")
    mac.update(body)
    return mac.hexdigest() in fields["v1"]


def add_endpoint(team, receiver, **kwargs) -> services.IssuedEndpoint:
    return services.webhook_endpoint_create(organization=team.org, actor=team.admin, url=receiver.url, **kwargs)


def emit(team, event_type: str = "member.added", data: dict | None = None) -> Event:
    return event_publish(organization=team.org, type=event_type, data=data or {"user": {"email": "ana@example.com"}})


def deliveries(team) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.for_org(team.org).order_by("pk"))


def make_due(delivery_row: WebhookDelivery, **fields) -> None:
    WebhookDelivery.objects.for_org(delivery_row.organization).filter(pk=delivery_row.pk).update(
        next_attempt_at=timezone.now(), **fields
    )


def test_an_event_arrives_signed_so_the_documented_recipe_verifies_it(
    team, receiver, django_capture_on_commit_callbacks
):
    issued = add_endpoint(team, receiver)
    with django_capture_on_commit_callbacks(execute=True):  # emitting enqueues a sweep after commit
        event = emit(team, data={"user": {"email": "ana@example.com"}, "role": "trader"})

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    header = request.headers["AsterAI-Signature"]
    assert json.loads(request.body) == {
        "id": event.id,
        "type": "member.added",
        "created": int(event.created_at.timestamp()),
        "data": {"user": {"email": "ana@example.com"}, "role": "trader"},
    }
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["AsterAI-Event-Id"] == event.id
    assert request.headers["User-Agent"].startswith("AsterAI-Webhooks/1.0")
    assert request.path == "/hooks/asterai"

    verify = documented_verifier()["verify_asterai_signature"]
    assert verify(request.body, header, issued.secret)
    assert independent_verify(request.body, header, issued.secret)
    assert not verify(request.body, header, "whsec_someone-elses-secret")
    assert not verify(request.body.replace(b"trader", b"admin"), header, issued.secret)
    assert not verify(request.body, "v1=" + header.split("v1=")[1], issued.secret)  # no timestamp

    row = deliveries(team)[0]
    assert (row.state, row.attempts, row.response_status) == (WebhookDelivery.State.SUCCEEDED, 1, 200)
    assert row.response_body == '{"received": true}'
    assert row.latency_ms is not None and row.next_attempt_at is None


def test_the_documented_recipe_refuses_a_replayed_request(team, receiver):
    issued = add_endpoint(team, receiver)
    emit(team)
    delivery.webhook_deliveries_send_due()
    request = receiver.requests[0]
    signed_at = int(request.headers["AsterAI-Signature"].split(",")[0].removeprefix("t="))
    namespace = documented_verifier()

    class Clock:
        now = 0.0

        def time(self) -> float:
            return self.now

    namespace["time"] = clock = Clock()
    verify = namespace["verify_asterai_signature"]
    clock.now = signed_at + 299
    assert verify(request.body, request.headers["AsterAI-Signature"], issued.secret)
    clock.now = signed_at + 301  # past the 5-minute tolerance
    assert not verify(request.body, request.headers["AsterAI-Signature"], issued.secret)


def test_an_event_goes_to_active_endpoints_subscribed_to_its_type(team, other_team, receiver):
    everything = add_endpoint(team, receiver).endpoint
    subscribed = add_endpoint(team, receiver, event_types=["member.added"]).endpoint
    add_endpoint(team, receiver, event_types=["member.removed"])
    add_endpoint(team, receiver, active=False)
    add_endpoint(other_team, receiver)

    emit(team, "member.added")

    assert {row.endpoint_id for row in deliveries(team)} == {everything.pk, subscribed.pk}
    assert WebhookDelivery.objects.for_org(other_team.org).count() == 0


def test_an_unknown_event_type_is_a_programming_error(team):
    with pytest.raises(UnknownEventType, match="declare it"):
        event_publish(organization=team.org, type="member.teleported", data={})


def test_a_500_is_retried_later_with_exponential_backoff(team, receiver):
    add_endpoint(team, receiver)
    receiver.behaviour.status = 500
    emit(team)

    before = timezone.now()
    assert delivery.webhook_deliveries_send_due() == 1
    row = deliveries(team)[0]
    assert (row.state, row.attempts, row.response_status) == (WebhookDelivery.State.PENDING, 1, 500)
    # First retry: 30 s with jitter, i.e. between 15 and 30 s later.
    assert before + timedelta(seconds=15) <= row.next_attempt_at <= timezone.now() + timedelta(seconds=30)
    assert WebhookEndpoint.objects.for_org(team.org).get().failing_since is not None

    assert delivery.webhook_deliveries_send_due() == 0  # not due yet: nothing is sent
    assert len(receiver.requests) == 1

    make_due(row)
    before = timezone.now()
    delivery.webhook_deliveries_send_due()
    row.refresh_from_db()
    assert row.attempts == 2
    # Second retry: 60 s with jitter, between 30 and 60 s later.
    assert before + timedelta(seconds=30) <= row.next_attempt_at <= timezone.now() + timedelta(seconds=60)

    receiver.behaviour.status = 204
    make_due(row)
    delivery.webhook_deliveries_send_due()
    row.refresh_from_db()
    assert (row.state, row.attempts, row.response_status) == (WebhookDelivery.State.SUCCEEDED, 3, 204)
    assert [r.headers["AsterAI-Event-Id"] for r in receiver.requests] == [row.event_id] * 3
    assert WebhookEndpoint.objects.for_org(team.org).get().failing_since is None


def test_backoff_doubles_up_to_six_hours():
    for attempt, ceiling in [(1, 30), (2, 60), (3, 120), (10, 15360), (11, 21600), (40, 21600)]:
        for _ in range(20):
            seconds = delivery.retry_delay(attempt).total_seconds()
            assert min(ceiling, 21600) / 2 <= seconds <= min(ceiling, 21600)


@override_settings(WEBHOOK_TIMEOUT_SECONDS=0.5)
def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt(team, receiver):
    add_endpoint(team, receiver)
    receiver.behaviour.delay = 3
    emit(team)

    delivery.webhook_deliveries_send_due()

    row = deliveries(team)[0]
    assert row.state == WebhookDelivery.State.PENDING and row.attempts == 1
    assert row.response_status is None
    assert row.error.startswith("Timed out")
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=10)


@override_settings(WEBHOOK_TIMEOUT_SECONDS=1)
def test_a_receiver_trickling_its_response_is_cut_off_at_the_total_deadline(team):
    """Each byte arrives well within the per-read timeout; only the overall deadline stops it."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            deadline = time.monotonic() + 8  # fail the test rather than hang it
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    conn.sendall(b"X-Slow: y\r\n")
                except OSError:
                    return
                time.sleep(0.2)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    services.webhook_endpoint_create(organization=team.org, actor=team.admin, url=f"http://127.0.0.1:{port}/")
    emit(team)
    try:
        delivery.webhook_deliveries_send_due()
    finally:
        stop.set()
        listener.close()
    row = deliveries(team)[0]
    assert row.error.startswith("Timed out"), row.error
    assert row.state == WebhookDelivery.State.PENDING


def test_it_gives_up_24_hours_after_the_first_attempt(team, receiver):
    add_endpoint(team, receiver)
    receiver.behaviour.status = 503
    emit(team)
    delivery.webhook_deliveries_send_due()
    row = deliveries(team)[0]
    first_attempt = timezone.now() - timedelta(hours=23, minutes=59, seconds=50)

    make_due(row, first_attempt_at=first_attempt)
    delivery.webhook_deliveries_send_due()
    row.refresh_from_db()
    # Ten seconds of the window are left: the last retry is scheduled at its end, not beyond.
    assert row.state == WebhookDelivery.State.PENDING
    assert row.next_attempt_at == first_attempt + timedelta(hours=24)

    make_due(row, first_attempt_at=timezone.now() - timedelta(hours=24, seconds=1))
    delivery.webhook_deliveries_send_due()
    row.refresh_from_db()
    assert (row.state, row.attempts, row.next_attempt_at) == (WebhookDelivery.State.FAILED, 3, None)
    assert row.response_status == 503
    assert len(receiver.requests) == 3

    assert delivery.webhook_deliveries_send_due() == 0  # a failed delivery is never claimed again


def test_an_endpoint_failing_for_three_days_is_disabled_and_admins_are_emailed(
    team, receiver, django_capture_on_commit_callbacks
):
    endpoint = add_endpoint(team, receiver).endpoint
    receiver.behaviour.status = 500
    WebhookEndpoint.objects.for_org(team.org).update(failing_since=timezone.now() - timedelta(days=2, hours=23))
    emit(team)
    emit(team, "member.removed")
    with django_capture_on_commit_callbacks(execute=True):
        delivery.webhook_deliveries_send_due()
    endpoint.refresh_from_db()
    assert endpoint.active and mail.outbox == []  # under three days: still enabled

    waiting = deliveries(team)[1]  # not due: it must be failed along with the endpoint
    WebhookEndpoint.objects.for_org(team.org).update(failing_since=timezone.now() - timedelta(days=3, minutes=1))
    make_due(deliveries(team)[0])
    with django_capture_on_commit_callbacks(execute=True):
        delivery.webhook_deliveries_send_due()

    endpoint.refresh_from_db()
    assert not endpoint.active and endpoint.disabled_at is not None and endpoint.disabled_reason
    assert {row.state for row in deliveries(team)} == {WebhookDelivery.State.FAILED}
    waiting.refresh_from_db()
    assert waiting.error == "The endpoint was disabled."
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        [team.user(Role.ADMIN).email, team.user(Role.OWNER).email]
    )
    assert endpoint.url in mail.outbox[0].body
    assert AuditEvent.objects.for_org(team.org).filter(action="webhook_endpoint.disabled").count() == 1

    emit(team)  # a disabled endpoint gets nothing new
    assert WebhookDelivery.objects.for_org(team.org).filter(state=WebhookDelivery.State.PENDING).count() == 0


def test_a_success_ends_the_failing_streak(team, receiver):
    add_endpoint(team, receiver)
    WebhookEndpoint.objects.for_org(team.org).update(failing_since=timezone.now() - timedelta(days=2))
    emit(team)
    delivery.webhook_deliveries_send_due()
    assert WebhookEndpoint.objects.for_org(team.org).get().failing_since is None


def test_a_delivery_to_an_endpoint_disabled_meanwhile_is_failed_without_sending(team, receiver):
    endpoint = add_endpoint(team, receiver).endpoint
    emit(team)
    services.webhook_endpoint_update(organization=team.org, actor=team.admin, endpoint=endpoint, active=False)

    delivery.webhook_deliveries_send_due()

    row = deliveries(team)[0]
    assert (row.state, row.error) == (WebhookDelivery.State.FAILED, "The endpoint is disabled.")
    assert receiver.requests == []


def test_redelivery_sends_the_same_event_again_as_a_new_delivery(team, receiver, django_capture_on_commit_callbacks):
    issued = add_endpoint(team, receiver)
    receiver.behaviour.status = 500
    event = emit(team)
    delivery.webhook_deliveries_send_due()
    original = deliveries(team)[0]
    make_due(original, first_attempt_at=timezone.now() - timedelta(days=1, seconds=1))
    delivery.webhook_deliveries_send_due()
    original.refresh_from_db()
    assert original.state == WebhookDelivery.State.FAILED

    receiver.behaviour.status = 200
    with django_capture_on_commit_callbacks(execute=True):
        redelivery = services.webhook_delivery_redeliver(organization=team.org, actor=team.admin, delivery=original)

    redelivery.refresh_from_db()
    assert redelivery.pk != original.pk and redelivery.event_id == event.id
    assert (redelivery.state, redelivery.attempts) == (WebhookDelivery.State.SUCCEEDED, 1)
    assert len(receiver.requests) == 3
    last = receiver.requests[-1]
    assert last.headers["AsterAI-Event-Id"] == event.id and last.body == receiver.requests[0].body
    assert independent_verify(last.body, last.headers["AsterAI-Signature"], issued.secret)
    audit = AuditEvent.objects.for_org(team.org).get(action="webhook_delivery.redelivered")
    assert audit.details["event_id"] == event.id


def test_a_test_event_goes_to_one_endpoint_whatever_it_subscribes_to(
    team, receiver, django_capture_on_commit_callbacks
):
    endpoint = add_endpoint(team, receiver, event_types=["member.removed"]).endpoint
    add_endpoint(team, receiver)
    with django_capture_on_commit_callbacks(execute=True):
        sent = services.webhook_send_test_event(organization=team.org, actor=team.admin, endpoint=endpoint)
    assert [json.loads(r.body)["type"] for r in receiver.requests] == ["webhook.test"]
    sent.refresh_from_db()
    assert sent.endpoint_id == endpoint.pk and sent.state == WebhookDelivery.State.SUCCEEDED


def test_after_a_rotation_both_secrets_sign_for_a_day(team, receiver):
    first = add_endpoint(team, receiver)
    second = services.webhook_endpoint_rotate_secret(organization=team.org, actor=team.admin, endpoint=first.endpoint)
    assert second.secret != first.secret and second.secret.startswith("whsec_")
    verify = documented_verifier()["verify_asterai_signature"]

    services.webhook_send_test_event(organization=team.org, actor=team.admin, endpoint=first.endpoint)
    delivery.webhook_deliveries_send_due()
    request = receiver.requests[-1]
    header = request.headers["AsterAI-Signature"]
    assert header.count("v1=") == 2
    assert verify(request.body, header, second.secret) and verify(request.body, header, first.secret)

    WebhookEndpoint.objects.for_org(team.org).update(previous_secret_expires_at=timezone.now())
    services.webhook_send_test_event(organization=team.org, actor=team.admin, endpoint=first.endpoint)
    delivery.webhook_deliveries_send_due()
    request = receiver.requests[-1]
    assert request.headers["AsterAI-Signature"].count("v1=") == 1
    assert verify(request.body, request.headers["AsterAI-Signature"], second.secret)
    assert not verify(request.body, request.headers["AsterAI-Signature"], first.secret)


def test_only_the_first_2_kb_of_the_response_are_kept(team, receiver):
    add_endpoint(team, receiver)
    receiver.behaviour.body = b"x" * 5000
    emit(team)
    delivery.webhook_deliveries_send_due()
    assert deliveries(team)[0].response_body == "x" * 2048


def test_an_attempt_whose_claim_lapsed_does_not_overwrite_the_newer_one(team, receiver):
    add_endpoint(team, receiver)
    emit(team)
    [claim] = delivery.webhook_deliveries_claim()
    row = deliveries(team)[0]
    assert row.attempts == 1 and row.next_attempt_at > timezone.now() + timedelta(seconds=20)  # leased
    # The lease ran out and another worker claimed attempt 2 in the meantime.
    WebhookDelivery.objects.for_org(team.org).filter(pk=row.pk).update(attempts=2)

    delivery._settle(claim, delivery.SendResult(ok=True, status=200))

    row.refresh_from_db()
    assert (row.state, row.attempts, row.response_status) == (WebhookDelivery.State.PENDING, 2, None)


def test_the_sweep_task_sends_due_deliveries(team, receiver):
    add_endpoint(team, receiver)
    emit(team)
    assert tasks.webhooks_sweep.delay().get() == 1
    assert len(receiver.requests) == 1


def test_old_events_are_purged_with_their_deliveries(team):
    old = WebhookEventFactory(organization=team.org, created_at=timezone.now() - timedelta(days=31))
    recent = WebhookEventFactory(organization=team.org)
    assert tasks.webhook_events_purge.delay().get() == 1
    assert list(WebhookEvent.objects.for_org(team.org).values_list("pk", flat=True)) == [recent.pk]
    assert not WebhookEvent.all_objects.filter(pk=old.pk).exists()


def test_the_payload_builders_produce_the_documented_shapes(team):
    from accounts.events import member_data, organization_data
    from accounts.webhooks.events import webhook_event_types

    membership = team.membership(Role.TRADER)
    added = member_data(membership)
    removed = member_data(membership, reason="left")
    updated = organization_data(team.org, changes={"name": {"from": "Old", "to": team.org.name}})

    assert added == {
        "member": {"id": membership.pk, "user_id": team.trader.pk, "email": team.trader.email, "role": "trader"}
    }
    assert removed == {**added, "reason": "left"}
    assert updated["organization"] == {"slug": team.org.slug, "name": team.org.name, "require_2fa": False}
    for name, data in [("member.added", added), ("member.removed", removed), ("organization.updated", updated)]:
        example = webhook_event_types()[name].example
        assert set(data) == set(example), name
        for key, value in data.items():
            if isinstance(value, dict) and key != "changes":
                assert set(value) == set(example[key]), (name, key)
