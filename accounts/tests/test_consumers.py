"""The organization events websocket follows the same rules as the HTML views."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing.websocket import WebsocketCommunicator

from accounts.realtime import organization_broadcast
from accounts.services import audit_record
from accounts.tests.ws_support import connect as _connect
from accounts.tests.ws_support import cookie_for as _cookie_for
from asterweb.asgi import application


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
def test_members_receive_events_their_role_may_see(team):
    admin_cookie, viewer_cookie = _cookie_for(team.admin), _cookie_for(team.viewer)

    async def scenario():
        admin_ws, connected, _ = await _connect(team.org.slug, admin_cookie)
        assert connected
        viewer_ws, connected, _ = await _connect(team.org.slug, viewer_cookie)
        assert connected
        await database_sync_to_async(organization_broadcast)(
            organization=team.org, event_type="bot.started", data={"bot": 7}
        )
        assert await admin_ws.receive_json_from(timeout=2) == {"event": "bot.started", "data": {"bot": 7}}
        assert await viewer_ws.receive_json_from(timeout=2) == {"event": "bot.started", "data": {"bot": 7}}
        # Audit events are for admins only.
        await database_sync_to_async(audit_record)(action="organization.updated", organization=team.org)
        message = await admin_ws.receive_json_from(timeout=2)
        assert message["event"] == "audit.recorded"
        assert message["data"]["action"] == "organization.updated"
        assert await viewer_ws.receive_nothing(timeout=0.3)
        await admin_ws.disconnect()
        await viewer_ws.disconnect()

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_an_organization_requiring_2fa_refuses_members_without_it(team):
    team.org.require_2fa = True
    team.org.save()
    cookie = _cookie_for(team.trader)

    async def scenario():
        _, connected, code = await _connect(team.org.slug, cookie)
        assert (connected, code) == (False, 4403)

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
