"""Lock order between the events bus and webhook endpoints. Publishing takes the organization's
counter row and then, in the webhook subscriber, queues deliveries (a foreign key to each endpoint:
FOR KEY SHARE on its row). Endpoint writes lock the endpoint and then audit (the counter). They
must not lock the endpoint in a mode that waits for a queued delivery, or the two wait for each
other until PostgreSQL kills one with a deadlock error. The same holds for API keys (below)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import ApiKey, AuditEvent, Membership, OrganizationEvent, User
from accounts.roles import Role
from accounts.services import api_keys, memberships, users
from accounts.tests.api_helpers import issue_key, membership_of
from accounts.tests.factories import MembershipFactory
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


# API keys: rotating or revoking a key locks its row and then audits (the counter). Whatever else
# revokes or deletes keys (a member removed or leaving, a parent key's cascade, "revoke all my
# keys", deleting the account) must lock those key rows before its first audit, or it holds the
# counter while waiting for a key row that waits for the counter.

KEY_WRITER = "key-writer"


def _race_a_key_write(monkeypatch, key_write, other) -> list[BaseException]:
    """Run ``key_write`` (which locks a key, then audits slowly) and, once the key is locked,
    ``other``; return what either raised."""
    key_locked = threading.Event()
    real_audit_record = api_keys.audit_record

    def audit_late(**kwargs):
        if threading.current_thread().name == KEY_WRITER and not key_locked.is_set():
            key_locked.set()
            time.sleep(PUBLISHER_GRACE_SECONDS)  # the other writer runs meanwhile
        return real_audit_record(**kwargs)

    monkeypatch.setattr(api_keys, "audit_record", audit_late)
    errors: list[BaseException] = []

    def run(work, wait_first: bool) -> None:
        try:
            if wait_first:
                key_locked.wait(10)
            work()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller's assertion
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(key_write, False), name=KEY_WRITER),
        threading.Thread(target=run, args=(other, True)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def _rotate_key(org, user, api_key):
    return lambda: api_keys.api_key_rotate(organization=org, membership=membership_of(org, user), api_key=api_key)


def _revoke_key(org, user, api_key):
    return lambda: api_keys.api_key_revoke(organization=org, membership=membership_of(org, user), api_key=api_key)


def _remove_member(team):
    return lambda: memberships.membership_remove(
        organization=team.org, actor_membership=team.membership(Role.OWNER), membership=team.membership(Role.TRADER)
    )


def _member_leaves(team):
    return lambda: memberships.membership_leave(organization=team.org, membership=team.membership(Role.TRADER))


@pytest.mark.parametrize("key_write", [_rotate_key, _revoke_key], ids=["rotate", "revoke"])
@pytest.mark.parametrize(
    ("departure", "action"), [(_remove_member, "membership.removed"), (_member_leaves, "membership.left")]
)
def test_a_member_departing_while_rotating_or_revoking_their_key_both_commit(
    team, monkeypatch, key_write, departure, action
):
    api_key = issue_key(team.org, team.trader).api_key
    errors = _race_a_key_write(monkeypatch, key_write(team.org, team.trader, api_key), departure(team))
    assert errors == []
    assert not Membership.objects.for_org(team.org).filter(user=team.trader).exists()
    assert ApiKey.objects.for_org(team.org).get(pk=api_key.pk).revoked_at is not None
    assert AuditEvent.objects.for_org(team.org).filter(action=action).count() == 1
    # The key was revoked once: by its owner, or when they departed, not both.
    assert AuditEvent.objects.for_org(team.org).filter(action="api_key.revoked", target_id=str(api_key.pk)).count() == 1


def test_a_parent_key_revoked_while_its_child_rotates_both_commit(team, monkeypatch):
    parent = issue_key(team.org, team.owner).api_key
    child = issue_key(team.org, team.owner, acting_key=parent).api_key
    errors = _race_a_key_write(
        monkeypatch, _rotate_key(team.org, team.owner, child), _revoke_key(team.org, team.owner, parent)
    )
    assert errors == []
    assert ApiKey.objects.for_org(team.org).filter(pk__in=[parent.pk, child.pk], revoked_at__isnull=True).count() == 0
    assert AuditEvent.objects.for_org(team.org).filter(action="api_key.rotated", target_id=str(child.pk)).exists()


def test_revoking_all_my_keys_while_one_rotates_both_commit(team, monkeypatch):
    issue_key(team.org, team.owner, name="first")
    second = issue_key(team.org, team.owner, name="second").api_key  # the one revoked last, unordered
    errors = _race_a_key_write(
        monkeypatch,
        _rotate_key(team.org, team.owner, second),
        lambda: api_keys.api_keys_revoke_for_user(user=team.owner, reason="revoked_by_user"),
    )
    assert errors == []
    assert not ApiKey.objects.for_user(team.owner).filter(revoked_at__isnull=True).exists()
    assert AuditEvent.objects.for_org(team.org).filter(action="api_key.revoked").count() == 2


def test_deleting_my_account_while_my_key_rotates_both_commit(monkeypatch):
    alone = MembershipFactory(role=Role.OWNER)
    org, user = alone.organization, alone.user
    api_key = issue_key(org, user).api_key
    errors = _race_a_key_write(monkeypatch, _rotate_key(org, user, api_key), lambda: users.user_delete(user=user))
    assert errors == []
    assert not User.objects.filter(pk=user.pk).exists()
    assert not ApiKey.objects.for_org(org).filter(pk=api_key.pk).exists()
    assert AuditEvent.objects.for_org(org).filter(action="organization.deleted").exists()
