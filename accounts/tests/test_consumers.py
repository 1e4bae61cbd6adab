"""The organization events websocket follows the same rules as the HTML views."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing.websocket import WebsocketCommunicator
from django.test import Client

from accounts.services import audit_record
from accounts.tests.second_factor import client_with_second_factor, enable_totp
from accounts.tests.ws_support import connect as _connect
from accounts.tests.ws_support import cookie_for, cookie_of
from asterweb.asgi import application
from asterweb.events import event_publish


def _cookie_for(user, client: Client | None = None) -> bytes:
    return cookie_for(user) if client is None else cookie_of(client)


@pytest.mark.django_db(transaction=True)
def test_anonymous_and_non_members_are_refused(team, outsider):
    outsider_cookie, owner_cookie = _cookie_for(outsider), _cookie_for(team.owner)

    async def scenario():
        _, connected, code = await _connect(team.org.slug, None)
        assert (connected, code) == (False, 4401)
        _, connected, code = await _connect(team.org.slug, outsider_cookie)
        assert (connected, code) == (False, 4404)
        _, connected, code = await _connect("no-such-org", owner_cookie)
        assert (connected, code) == (False, 4404)

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_members_receive_events_their_role_may_see_with_their_sequence_numbers(team):
    admin_cookie, viewer_cookie = _cookie_for(team.admin), _cookie_for(team.viewer)

    async def scenario():
        admin_ws, connected, _ = await _connect(team.org.slug, admin_cookie)
        assert connected
        viewer_ws, connected, _ = await _connect(team.org.slug, viewer_cookie)
        assert connected
        published = await database_sync_to_async(event_publish)(
            organization=team.org, type="member.removed", data={"member": {"id": 7}, "reason": "left"}
        )
        expected = {"event": "member.removed", "sequence": published.sequence, "data": published.data}
        assert await admin_ws.receive_json_from(timeout=2) == expected
        assert await viewer_ws.receive_json_from(timeout=2) == expected
        # Audit events are for admins only; the next number in the organization.
        await database_sync_to_async(audit_record)(action="organization.updated", organization=team.org)
        message = await admin_ws.receive_json_from(timeout=2)
        assert (message["event"], message["sequence"]) == ("audit.recorded", published.sequence + 1)
        assert message["data"]["action"] == "organization.updated"
        assert await viewer_ws.receive_nothing(timeout=0.3)
        await admin_ws.disconnect()
        await viewer_ws.disconnect()

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("account_has_totp", [False, True], ids=["no-totp", "totp-but-this-login-skipped-it"])
def test_an_organization_requiring_2fa_refuses_sessions_that_did_not_pass_it(team, account_has_totp):
    team.org.require_2fa = True
    team.org.save()
    if account_has_totp:
        enable_totp(team.trader)
    cookie = _cookie_for(team.trader)

    async def scenario():
        _, connected, code = await _connect(team.org.slug, cookie)
        assert (connected, code) == (False, 4403)

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_an_organization_requiring_2fa_admits_a_session_that_passed_it(team):
    team.org.require_2fa = True
    team.org.save()
    cookie = _cookie_for(team.trader, client_with_second_factor(team.trader))

    async def scenario():
        communicator, connected, _ = await _connect(team.org.slug, cookie)
        assert connected
        await communicator.disconnect()

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_a_foreign_origin_is_refused(team):
    cookie = _cookie_for(team.owner)

    async def scenario():
        communicator = WebsocketCommunicator(
            application,
            f"/ws/o/{team.org.slug}/events/",
            headers=[(b"origin", b"https://evil.example"), (b"cookie", cookie)],
        )
        connected, _ = await communicator.connect()
        assert not connected

    async_to_sync(scenario)()
