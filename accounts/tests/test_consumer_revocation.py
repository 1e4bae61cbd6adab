"""The events websocket loses what its member loses, after connect and within 5 seconds.

A walker over every way access ends: each cause runs twice, once through the product's own path
(the service or page pushes a re-check through the channel layer, so the periodic re-check is set
to a minute and cannot be what closes the socket) and once behind the services' back (a direct
database change, as the admin site or a script would make, which only the periodic re-check,
set short here, can notice)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.contrib.sessions.backends.cached_db import SessionStore
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import Membership, Organization, User
from accounts.realtime import organization_broadcast
from accounts.roles import Role
from accounts.services import audit_record
from accounts.tests.factories import PASSWORD
from accounts.tests.ws_support import REVOCATION_DEADLINE_SECONDS, close_code, connect, cookie_of

# Close codes the consumer documents (README, "Live events"): the same as at connect.
UNAUTHENTICATED, NOT_FOUND, TWO_FACTOR_REQUIRED, TOO_OLD, INTERNAL_ERROR = 4401, 4404, 4403, 4408, 1011

PUSHED, PERIODIC = "pushed", "periodic"
NEW_PASSWORD = "another-horse-battery-staple-42"


def _owner_membership(team) -> Membership:
    return team.membership(Role.OWNER)


def _remove(team, subject: User, client: Client) -> None:
    services.membership_remove(
        organization=team.org,
        actor_membership=_owner_membership(team),
        membership=Membership.objects.for_org(team.org).get(user=subject),
    )


def _leave(team, subject: User, client: Client) -> None:
    services.membership_leave(organization=team.org, membership=Membership.objects.for_org(team.org).get(user=subject))


def _delete_membership_row(team, subject: User, client: Client) -> None:
    Membership.all_objects.filter(organization=team.org, user=subject).delete()


def _delete_organization(team, subject: User, client: Client) -> None:
    services.organization_delete(organization=team.org, actor=team.owner, confirm_slug=team.org.slug)


def _mark_organization_deleted(team, subject: User, client: Client) -> None:
    Organization.objects.filter(pk=team.org.pk).update(deleted_at=timezone.now())


def _require_2fa(team, subject: User, client: Client) -> None:
    services.organization_update(organization=team.org, actor=team.owner, name=team.org.name, require_2fa=True)


def _set_require_2fa_column(team, subject: User, client: Client) -> None:
    Organization.objects.filter(pk=team.org.pk).update(require_2fa=True)


def _log_out(team, subject: User, client: Client) -> None:
    assert client.post(reverse("account_logout")).status_code == 302


def _delete_session_row(team, subject: User, client: Client) -> None:
    SessionStore(session_key=client.session.session_key).delete()


def _change_password_elsewhere(team, subject: User, client: Client) -> None:
    elsewhere = Client()
    elsewhere.force_login(subject)
    response = elsewhere.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302, response.content


def _set_password_column(team, subject: User, client: Client) -> None:
    subject.set_password(NEW_PASSWORD)
    subject.save(update_fields=["password"])


def _deactivate(team, subject: User, client: Client) -> None:
    User.objects.filter(pk=subject.pk).update(is_active=False)


def _delete_account(team, subject: User, client: Client) -> None:
    services.user_delete(user=subject)


@dataclass(frozen=True)
class Cause:
    name: str
    expected_code: int
    pushed: Callable | None  # through the product's own path
    periodic: Callable | None  # behind the services' back


CAUSES = [
    Cause("member removed", NOT_FOUND, _remove, _delete_membership_row),
    Cause("member left", NOT_FOUND, _leave, None),
    Cause("organization deleted", NOT_FOUND, _delete_organization, _mark_organization_deleted),
    Cause("organization starts requiring 2FA", TWO_FACTOR_REQUIRED, _require_2fa, _set_require_2fa_column),
    Cause("session logged out", UNAUTHENTICATED, _log_out, _delete_session_row),
    Cause("password changed in another session", UNAUTHENTICATED, _change_password_elsewhere, _set_password_column),
    Cause("account deactivated", UNAUTHENTICATED, None, _deactivate),
    Cause("account deleted", UNAUTHENTICATED, _delete_account, None),
]
CASES = [
    pytest.param(cause, how, id=f"{cause.name} ({how})")
    for cause in CAUSES
    for how in (PUSHED, PERIODIC)
    if getattr(cause, how) is not None
]


def _intervals(settings, how: str) -> None:
    settings.WEBSOCKET_RECHECK_SECONDS = 60 if how == PUSHED else 0.2
    settings.WEBSOCKET_MAX_AGE_SECONDS = 3600


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(("cause", "how"), CASES)
@pytest.mark.django_db(transaction=True)
def test_a_connected_member_is_cut_off_when_access_ends(team, settings, cause: Cause, how: str):
    _intervals(settings, how)
    subject = team.trader
    subject_client = _signed_in(subject)
    bystander_client = _signed_in(team.viewer)

    async def scenario():
        subject_ws, connected, _ = await connect(team.org.slug, cookie_of(subject_client))
        assert connected
        bystander_ws, connected, _ = await connect(team.org.slug, cookie_of(bystander_client))
        assert connected

        await database_sync_to_async(getattr(cause, how))(team, subject, subject_client)

        assert await close_code(subject_ws) == cause.expected_code
        if cause.name not in {"organization deleted", "organization starts requiring 2FA"}:
            # Only the subject lost access: the other member's feed carries on.
            await database_sync_to_async(organization_broadcast)(
                organization=team.org, event_type="bot.started", data={"bot": 1}, sequence=0
            )
            assert await _next_event(bystander_ws) == {"event": "bot.started", "sequence": 0, "data": {"bot": 1}}
        else:
            assert await close_code(bystander_ws) == cause.expected_code
        await bystander_ws.disconnect()

    async_to_sync(scenario)()


async def _next_event(ws) -> dict:
    """The next probe frame, skipping the events the cause itself published (its audit record,
    member.removed and the like)."""
    while True:
        message = await ws.receive_json_from(timeout=REVOCATION_DEADLINE_SECONDS)
        if message["event"] == "bot.started":
            return message


async def _admin_events_still_arrive(ws, organization: Organization, probe: int) -> bool:
    """Record an admin-only audit event, then a viewer-level marker, and report whether the
    audit event reached this socket before the marker did."""
    await database_sync_to_async(audit_record)(
        action="organization.updated", organization=organization, details={"probe": probe}
    )
    await database_sync_to_async(organization_broadcast)(
        organization=organization, event_type="probe.marker", data={"probe": probe}, sequence=0
    )
    saw_audit = False
    while True:
        message = await ws.receive_json_from(timeout=REVOCATION_DEADLINE_SECONDS)
        if message["event"] == "probe.marker" and message["data"] == {"probe": probe}:
            return saw_audit
        saw_audit = saw_audit or message["event"] == "audit.recorded"


def _demote_through_service(team, subject: User) -> None:
    services.membership_change_role(
        organization=team.org,
        actor_membership=_owner_membership(team),
        membership=Membership.objects.for_org(team.org).get(user=subject),
        role=Role.VIEWER,
    )


def _demote_in_database(team, subject: User) -> None:
    Membership.all_objects.filter(organization=team.org, user=subject).update(role=Role.VIEWER)


@pytest.mark.parametrize("how", [PUSHED, PERIODIC])
@pytest.mark.django_db(transaction=True)
def test_a_demoted_admin_stops_getting_admin_only_events(team, settings, how: str):
    _intervals(settings, how)
    client = _signed_in(team.admin)

    async def scenario():
        ws, connected, _ = await connect(team.org.slug, cookie_of(client))
        assert connected
        assert await _admin_events_still_arrive(ws, team.org, probe=0)

        demote = _demote_through_service if how == PUSHED else _demote_in_database
        await database_sync_to_async(demote)(team, team.admin)

        probe, deadline = 1, time.monotonic() + REVOCATION_DEADLINE_SECONDS
        while await _admin_events_still_arrive(ws, team.org, probe=probe):
            assert how == PERIODIC, "the pushed re-check must apply before the next event"
            assert time.monotonic() < deadline, "admin-only events still arrive after 5 s"
            probe += 1
            await asyncio.sleep(0.05)
        # Still connected as a viewer: viewer-level events keep coming.
        await database_sync_to_async(organization_broadcast)(
            organization=team.org, event_type="bot.started", data={"bot": 2}, sequence=0
        )
        assert await ws.receive_json_from(timeout=REVOCATION_DEADLINE_SECONDS) == {
            "event": "bot.started",
            "sequence": 0,
            "data": {"bot": 2},
        }
        await ws.disconnect()

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_a_connection_is_closed_for_reconnecting_when_it_reaches_the_maximum_age(team, settings):
    settings.WEBSOCKET_RECHECK_SECONDS = 60
    settings.WEBSOCKET_MAX_AGE_SECONDS = 1
    client = _signed_in(team.viewer)

    async def scenario():
        ws, connected, _ = await connect(team.org.slug, cookie_of(client))
        assert connected
        await database_sync_to_async(organization_broadcast)(
            organization=team.org, event_type="bot.started", data={"bot": 3}, sequence=0
        )
        assert await ws.receive_json_from(timeout=2) == {"event": "bot.started", "sequence": 0, "data": {"bot": 3}}
        assert await close_code(ws) == TOO_OLD

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_a_socket_whose_access_cannot_be_rechecked_is_closed(team, settings, monkeypatch):
    settings.WEBSOCKET_RECHECK_SECONDS = 0.2
    client = _signed_in(team.viewer)

    def database_unreachable(**kwargs):
        raise OSError("connection refused")

    async def scenario():
        ws, connected, _ = await connect(team.org.slug, cookie_of(client))
        assert connected
        monkeypatch.setattr("accounts.consumers.events_access", database_unreachable)
        assert await close_code(ws) == INTERNAL_ERROR

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_rechecks_during_a_secret_key_rotation_leave_the_browser_signed_in(team, settings):
    """A session signed under a fallback key is still valid; re-keying it is the browser's next
    request's job. A re-check that re-keyed it would delete the key the browser holds."""
    settings.WEBSOCKET_RECHECK_SECONDS = 0.1
    client = _signed_in(team.viewer)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = settings.SECRET_KEY + "-rotated"

    async def scenario():
        ws, connected, code = await connect(team.org.slug, cookie_of(client))
        assert connected, code
        assert await ws.receive_nothing(timeout=0.5)  # about five re-checks, none closing it
        await ws.disconnect()

    async_to_sync(scenario)()

    assert client.get(reverse("organization_list")).status_code == 200
