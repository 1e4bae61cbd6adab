"""A user sees the browsers signed in to their account and can end any of them; an ended
session is signed out at once and its websockets close (within the 5 s of item 4, issue 11)."""

from __future__ import annotations

import pytest
from allauth.usersessions.models import UserSession
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.realtime import organization_broadcast
from accounts.tests.factories import PASSWORD
from accounts.tests.ws_support import close_code, connect, cookie_of

LAPTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) Laptop/1.0"
PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Phone/2.0"
UNAUTHENTICATED = 4401  # the close code the consumer documents for an ended session


def _sign_in(user, user_agent: str) -> Client:
    """Sign in through allauth's login form, as a browser does (which records the session)."""
    client = Client(HTTP_USER_AGENT=user_agent)
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def _session_of(client: Client) -> UserSession:
    return UserSession.objects.get(session_key=client.session.session_key)


@pytest.fixture
def no_periodic_recheck(settings):
    """Only the push that ending a session sends can close its socket in time."""
    settings.WEBSOCKET_RECHECK_SECONDS = 60


@pytest.mark.django_db
def test_the_sessions_page_lists_each_signed_in_browser_and_marks_this_one(team):
    laptop = _sign_in(team.trader, LAPTOP_UA)
    phone = _sign_in(team.trader, PHONE_UA)
    elsewhere = _sign_in(team.viewer, "Someone else's browser")

    page = laptop.get(reverse("usersessions_list")).content.decode()

    assert LAPTOP_UA in page and PHONE_UA in page
    assert "Someone else's browser" not in page
    assert page.count("This browser") == 1
    for client in (laptop, phone):
        assert reverse("account_session_end", args=[_session_of(client).pk]) in page
    assert reverse("account_session_end", args=[_session_of(elsewhere).pk]) not in page


@pytest.mark.django_db
def test_the_account_pages_link_to_the_sessions_page(team):
    laptop = _sign_in(team.trader, LAPTOP_UA)
    page = laptop.get(reverse("account_security")).content.decode()
    assert f'href="{reverse("usersessions_list")}"' in page


@pytest.mark.django_db(transaction=True)
def test_ending_another_session_signs_it_out_and_closes_its_websockets(team, no_periodic_recheck):
    laptop = _sign_in(team.trader, LAPTOP_UA)
    phone = _sign_in(team.trader, PHONE_UA)
    phone_session = _session_of(phone)

    async def scenario():
        phone_ws, connected, _ = await connect(team.org.slug, cookie_of(phone))
        assert connected
        laptop_ws, connected, _ = await connect(team.org.slug, cookie_of(laptop))
        assert connected

        response = await database_sync_to_async(laptop.post)(reverse("account_session_end", args=[phone_session.pk]))
        assert response.status_code == 302

        assert await close_code(phone_ws) == UNAUTHENTICATED
        # The laptop's own session and socket are untouched.
        await database_sync_to_async(organization_broadcast)(
            organization=team.org, event_type="bot.started", data={"bot": 4}, sequence=0
        )
        assert await laptop_ws.receive_json_from(timeout=5) == {
            "event": "bot.started",
            "sequence": 0,
            "data": {"bot": 4},
        }
        await laptop_ws.disconnect()

    async_to_sync(scenario)()

    assert phone.get(reverse("app_home")).status_code == 302  # back to the login page
    assert laptop.get(reverse("app_home")).status_code in (200, 302)
    assert laptop.get(reverse("usersessions_list")).status_code == 200
    assert not UserSession.objects.filter(pk=phone_session.pk).exists()
    ended = AuditEvent.objects.for_user_history(team.trader).get(action="auth.session_ended")
    assert ended.details == {"signed_in_from": "127.0.0.1", "browser": PHONE_UA}


@pytest.mark.django_db(transaction=True)
def test_signing_out_all_other_sessions_closes_their_websockets(team, no_periodic_recheck):
    laptop = _sign_in(team.trader, LAPTOP_UA)
    phone = _sign_in(team.trader, PHONE_UA)

    async def scenario():
        phone_ws, connected, _ = await connect(team.org.slug, cookie_of(phone))
        assert connected
        response = await database_sync_to_async(laptop.post)(reverse("usersessions_list"))
        assert response.status_code == 302
        assert await close_code(phone_ws) == UNAUTHENTICATED

    async_to_sync(scenario)()

    assert list(UserSession.objects.filter(user=team.trader)) == [_session_of(laptop)]


@pytest.mark.django_db
def test_ending_this_session_signs_this_browser_out(team):
    laptop = _sign_in(team.trader, LAPTOP_UA)

    response = laptop.post(reverse("account_session_end", args=[_session_of(laptop).pk]))

    assert response.status_code == 302
    assert response.url == reverse("account_login")
    assert laptop.get(reverse("app_home")).status_code == 302


@pytest.mark.django_db
def test_another_users_session_cannot_be_ended(team):
    laptop = _sign_in(team.trader, LAPTOP_UA)
    victim = _sign_in(team.viewer, PHONE_UA)

    response = laptop.post(reverse("account_session_end", args=[_session_of(victim).pk]))

    assert response.status_code == 404
    assert victim.get(reverse("usersessions_list")).status_code == 200


@pytest.mark.django_db
def test_ending_a_session_needs_a_post(team):
    laptop = _sign_in(team.trader, LAPTOP_UA)
    assert laptop.get(reverse("account_session_end", args=[_session_of(laptop).pk])).status_code == 405
