"""docs/api_client_example.py against a live test server, so the documented client keeps working:
members through cursor pagination, an invitation created once however often it is retried,
waiting out a 429's Retry-After, and errors read from the one error shape."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import ModuleType

import pytest
import requests
from django.conf import settings as django_settings
from requests.adapters import HTTPAdapter

from accounts.models import Invitation
from accounts.roles import Role
from accounts.services.api_keys import api_key_create

EXAMPLE = Path(django_settings.BASE_DIR) / "docs" / "api_client_example.py"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("api_client_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def admin_key(team) -> str:
    """An admin's key with every scope an admin holds (inviting needs ``admin``)."""
    return api_key_create(
        organization=team.org, membership=team.membership(Role.ADMIN), name="example", scopes=["read", "trade", "admin"]
    ).secret


class LoseFirstResponse(HTTPAdapter):
    """Delivers the first request to the server, then acts as if the connection dropped before
    the response arrived: the case a client must retry without creating twice."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def send(self, request, *args, **kwargs):
        response = super().send(request, *args, **kwargs)
        self.sent += 1
        if self.sent == 1:
            raise requests.ConnectionError("connection reset before the response arrived")
        return response


def test_it_lists_members_across_cursor_pages(example, live_server, team, admin_key):
    client = example.AsterClient(live_server.url, admin_key, team.org.slug)
    members = client.list_members(page_size=1)  # four members: four pages
    assert sorted(member["user"]["email"] for member in members) == sorted(team.user(role).email for role in Role)
    assert {member["user"]["email"]: member["role"] for member in members}[team.trader.email] == "trader"


def test_me_names_the_key_and_its_organization(example, live_server, team, admin_key):
    me = example.AsterClient(live_server.url, admin_key, team.org.slug).me()
    assert me["user"]["email"] == team.admin.email
    assert me["credential"]["organization"] == team.org.slug
    assert admin_key.startswith(me["credential"]["api_key_prefix"] + "_")


def test_a_retried_invitation_is_created_once(example, live_server, team, admin_key):
    session = requests.Session()
    adapter = LoseFirstResponse()
    session.mount("http://", adapter)
    waits: list[float] = []
    client = example.AsterClient(live_server.url, admin_key, team.org.slug, session=session, sleep=waits.append)

    invitation = client.create_invitation("new.trader@example.com", "trader")

    assert adapter.sent == 2  # the first attempt reached the server; its answer was lost
    assert waits == [1]
    assert (invitation["email"], invitation["role"], invitation["status"]) == (
        "new.trader@example.com",
        "trader",
        "pending",
    )
    stored = Invitation.objects.for_org(team.org).filter(email="new.trader@example.com")
    assert [row.pk for row in stored] == [invitation["id"]]


def test_the_same_idempotency_key_returns_the_first_invitation(example, live_server, team, admin_key):
    client = example.AsterClient(live_server.url, admin_key, team.org.slug)
    first = client.create_invitation("ana@example.com", "viewer", idempotency_key="invite-ana-1")
    again = client.create_invitation("ana@example.com", "viewer", idempotency_key="invite-ana-1")
    assert again == first
    assert Invitation.objects.for_org(team.org).filter(email="ana@example.com").count() == 1
    with pytest.raises(example.ApiError) as reused:
        client.create_invitation("bo@example.com", "viewer", idempotency_key="invite-ana-1")
    assert (reused.value.status, reused.value.code) == (409, "idempotency_key_reused")


def test_it_waits_out_a_429_for_retry_after_seconds(example, live_server, team, admin_key, settings):
    settings.API_RATE_PER_KEY = "2/s"
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    client = example.AsterClient(live_server.url, admin_key, team.org.slug, sleep=sleep)
    emails = [client.me()["user"]["email"] for _ in range(5)]
    assert emails == [team.admin.email] * 5
    # Five calls at two a second: the limit was hit and each wait was the server's Retry-After
    # (a one-second window leaves at most one second to wait).
    assert waits
    assert set(waits) == {1.0}


def test_errors_come_back_in_the_error_shape(example, live_server, team, admin_key):
    client = example.AsterClient(live_server.url, admin_key, team.org.slug)
    with pytest.raises(example.ApiError) as invalid:
        client.create_invitation("not-an-email", "viewer")
    error = invalid.value
    assert (error.status, error.type, error.code) == (400, "invalid_request_error", "invalid")
    assert error.fields["email"] == ["Enter a valid email address."]
    assert str(error).splitlines() == [
        f"400 invalid_request_error (invalid): {error.detail}",
        "  email: Enter a valid email address.",
    ]
    assert not Invitation.objects.for_org(team.org).filter(email="not-an-email").exists()


def test_a_bad_key_is_an_authentication_error(example, live_server, team):
    client = example.AsterClient(live_server.url, "ak_live_0123456789_" + "x" * 40, team.org.slug)
    with pytest.raises(example.ApiError) as refused:
        client.list_members()
    assert (refused.value.status, refused.value.type, refused.value.code) == (
        401,
        "authentication_error",
        "invalid_api_key",
    )


def test_main_prints_the_members_and_the_invitation(example, live_server, team, admin_key, monkeypatch, capsys):
    monkeypatch.setenv("ASTERAI_URL", live_server.url)
    monkeypatch.setenv("ASTERAI_API_KEY", admin_key)
    monkeypatch.setenv("ASTERAI_ORG", team.org.slug)
    assert example.main(["cli@example.com"]) == 0
    out = capsys.readouterr().out
    assert f"Signed in as {team.admin.email}" in out
    assert f"owner   {team.owner.email}" in out
    assert "Invited cli@example.com as viewer" in out
    assert example.main(["cli@example.com"]) == 1  # already invited: the API's 409 is printed
    assert "The API refused: 409 conflict_error" in capsys.readouterr().err
