"""The HTML pages for API keys (accounts/views_api_keys.py): create (shown once), list, rotate,
revoke, per role and across organizations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey, AuditEvent, Scope
from accounts.roles import Role
from accounts.services.api_keys import api_key_create, api_key_hash
from accounts.tests.factories import PASSWORD, MembershipFactory

pytestmark = pytest.mark.django_db


def _url(team, name: str, *args) -> str:
    return reverse(name, args=[team.org.slug, *args])


def _reauthenticated(client_for, user) -> Client:
    """A signed-in client that has just confirmed its password (creating and rotating need it)."""
    client = client_for(user)
    response = client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    assert response.status_code == 302
    return client


def _keys(team) -> list[ApiKey]:
    return list(ApiKey.objects.for_org(team.org).order_by("pk"))


def _create(client: Client, team, **data) -> object:
    form = {"name": "grafana", "scopes": ["read"], "expires_at": "", "allowed_cidrs": "", **data}
    return client.post(_url(team, "api_key_create"), form)


def _shown_key(response) -> str:
    """The full key on a "shown once" page: the context's secret, which the page must contain."""
    secret = response.context["secret"]
    assert secret in response.content.decode()
    return secret


def _me(raw_key: str) -> object:
    return Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw_key}")


def _issue(team, role: Role, **kwargs) -> tuple[ApiKey, str]:
    issued = api_key_create(
        organization=team.org,
        membership=team.membership(role),
        name=kwargs.pop("name", "script"),
        scopes=kwargs.pop("scopes", ["read"]),
        **kwargs,
    )
    return issued.api_key, issued.secret


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- creating ---------------------------------------------------------------------------------


def test_a_new_key_is_shown_once_in_the_response_and_never_again(team, client_for):
    client = _reauthenticated(client_for, team.trader)
    response = _create(client, team, name="grafana", scopes=["read", "trade"])

    assert response.status_code == 200
    secret = _shown_key(response)
    assert response.context["api_key"].name == "grafana"
    assert "shown only once" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    [key] = _keys(team)
    assert secret.startswith(key.prefix + "_")
    assert len(secret) == len("ak_live_") + 10 + 1 + 40
    # Only a keyed hash is stored; the session holds nothing of it.
    assert key.secret_hash == api_key_hash(secret) != secret
    assert secret not in str(dict(client.session.items()))

    listing = client.get(_url(team, "api_key_list"))
    assert listing.status_code == 200
    assert key.prefix in listing.content.decode()
    assert secret not in listing.content.decode()
    assert secret not in client.get(_url(team, "api_key_create")).content.decode()


def test_the_shown_key_authenticates_against_the_api(team, client_for):
    client = _reauthenticated(client_for, team.trader)
    secret = _shown_key(_create(client, team, name="bot", scopes=["read", "trade"]))

    response = _me(secret)
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["email"] == team.trader.email
    assert body["credential"] == {
        "kind": "api_key",
        "api_key_prefix": secret.rsplit("_", 1)[0],
        "organization": team.org.slug,
        "scopes": ["read", "trade"],
    }


def test_creating_asks_for_the_password_before_the_form_and_stores_nothing_before(team, client_for):
    client = client_for(team.trader)
    url = _url(team, "api_key_create")
    to_reauthenticate = f"{reverse('account_reauthenticate')}?{urlencode({'next': url})}"
    assert client.get(url)["Location"] == to_reauthenticate
    response = _create(client, team)
    assert response.status_code == 302
    assert response["Location"] == to_reauthenticate
    assert _keys(team) == []
    assert client.post(response["Location"], {"password": PASSWORD})["Location"] == url
    assert client.get(url).status_code == 200
    assert _create(client, team).status_code == 200
    assert len(_keys(team)) == 1


def test_the_key_keeps_the_expiry_day_and_ip_allow_list(team, client_for):
    client = _reauthenticated(client_for, team.trader)
    day = timezone.now().date() + timedelta(days=30)
    response = _create(client, team, expires_at=day.isoformat(), allowed_cidrs="203.0.113.7\n\n 10.1.2.0/24 \n")
    assert response.status_code == 200
    [key] = _keys(team)
    # "Expires on <day>": it works through that day (UTC), so it stops at the next midnight.
    assert key.expires_at == datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    assert key.allowed_cidrs == ["203.0.113.7/32", "10.1.2.0/24"]
    # The test client connects from 127.0.0.1, outside the allow-list.
    assert _me(_shown_key(response)).status_code == 403


def test_an_invalid_cidr_is_a_form_error_and_nothing_is_stored(team, client_for):
    client = _reauthenticated(client_for, team.trader)
    response = _create(client, team, allowed_cidrs="10.0.0.0/8\nnot-an-ip")
    assert response.status_code == 400
    assert response.context["form"].errors["allowed_cidrs"] == ["Invalid: not-an-ip"]
    assert _keys(team) == []
    assert "secret" not in response.context


def test_an_expiry_in_the_past_is_refused(team, client_for):
    client = _reauthenticated(client_for, team.trader)
    response = _create(client, team, expires_at=(date.today() - timedelta(days=2)).isoformat())
    assert response.status_code == 400
    assert response.context["form"].errors["expires_at"] == ["Must be in the future."]
    assert _keys(team) == []


def test_a_key_needs_a_name_and_a_scope(team, client_for):
    client = _reauthenticated(client_for, team.trader)
    response = _create(client, team, name="", scopes=[])
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["name"] == ["This field is required."]
    assert errors["scopes"] == ["Choose at least one scope."]
    assert _keys(team) == []


# --- scopes within the role -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "offered"),
    [
        (Role.VIEWER, {"read"}),
        (Role.TRADER, {"read", "trade"}),
        (Role.ADMIN, {"read", "trade", "admin"}),
        (Role.OWNER, {"read", "trade", "admin"}),
    ],
)
def test_the_form_offers_only_the_scopes_the_role_can_grant(team, client_for, role, offered):
    page = _reauthenticated(client_for, team.user(role)).get(_url(team, "api_key_create")).content.decode()
    for scope in Scope.values:
        checkbox = f'name="scopes" value="{scope}"'
        assert (checkbox in page) == (scope in offered), scope


def test_a_viewer_creates_a_read_only_key(team, client_for):
    client = _reauthenticated(client_for, team.viewer)
    response = _create(client, team, scopes=["read"])
    assert response.status_code == 200
    [key] = _keys(team)
    assert (key.user, key.scopes) == (team.viewer, ["read"])
    assert _me(_shown_key(response)).status_code == 200


@pytest.mark.parametrize("forged", [["read", "admin"], ["trade"]])
def test_a_viewers_forged_scope_is_refused_with_a_reason_and_nothing_is_stored(team, client_for, forged):
    client = _reauthenticated(client_for, team.viewer)
    response = _create(client, team, scopes=forged)
    assert response.status_code == 403
    beyond = sorted(set(forged) - {"read"})
    reason = f"You cannot grant the {', '.join(beyond)} scope: it is beyond your role or this credential."
    assert reason in response.content.decode()
    assert "secret" not in response.context
    assert _keys(team) == []
    assert not AuditEvent.objects.for_org(team.org).filter(action="api_key.created").exists()


def test_the_list_marks_scopes_the_owners_role_no_longer_covers(team, client_for):
    _issue(team, Role.TRADER, name="trading bot", scopes=["read", "trade"])
    membership = team.membership(Role.TRADER)
    membership.role = Role.VIEWER
    membership.save()
    page = client_for(team.trader).get(_url(team, "api_key_list")).content.decode()
    assert "Not in use: trade (beyond the owner's current role)" in page


# --- listing ----------------------------------------------------------------------------------


def test_a_member_sees_only_their_own_keys(team, client_for):
    own, _ = _issue(team, Role.TRADER, name="mine")
    other, _ = _issue(team, Role.VIEWER, name="the viewer's")
    page = client_for(team.trader).get(_url(team, "api_key_list")).content.decode()
    assert own.prefix in page
    assert other.prefix not in page
    assert "Owner</th>" not in page


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_admins_see_every_members_keys_with_their_owner(team, client_for, role):
    trader_key, _ = _issue(team, Role.TRADER, name="trader bot")
    viewer_key, _ = _issue(team, Role.VIEWER, name="viewer dashboard")
    response = client_for(team.user(role)).get(_url(team, "api_key_list"))
    page = response.content.decode()
    assert "Owner</th>" in page
    rows = {key.pk: key for key in response.context["api_keys"]}
    assert set(rows) == {trader_key.pk, viewer_key.pk}
    for key, owner in ((trader_key, team.trader), (viewer_key, team.viewer)):
        assert key.prefix in page
        assert owner.email in page


def test_the_list_never_shows_another_organizations_keys(team, other_team, client_for):
    foreign, _ = _issue(other_team, Role.OWNER, name="theirs")
    page = client_for(team.owner).get(_url(team, "api_key_list")).content.decode()
    assert foreign.prefix not in page


def test_every_member_has_the_api_keys_link(team, client_for):
    for role in Role:
        page = client_for(team.user(role)).get(_url(team, "org_dashboard")).content.decode()
        assert f'href="{_url(team, "api_key_list")}"' in page, role


# --- rotating ---------------------------------------------------------------------------------


def test_rotating_explains_the_grace_period(team, client_for):
    key, _ = _issue(team, Role.TRADER)
    page = client_for(team.trader).get(_url(team, "api_key_rotate", key.pk)).content.decode()
    hours = settings.API_KEY_ROTATION_GRACE_HOURS
    assert f"the current secret keeps working for {hours} hours after you rotate" in " ".join(page.split())


def test_rotating_shows_a_new_secret_once_and_the_old_one_works_for_the_grace_period(team, client_for):
    key, old_secret = _issue(team, Role.TRADER, scopes=["read", "trade"])
    client = _reauthenticated(client_for, team.trader)
    before = timezone.now()
    response = client.post(_url(team, "api_key_rotate", key.pk))
    assert response.status_code == 200
    new_secret = _shown_key(response)
    assert new_secret != old_secret
    assert new_secret.startswith(key.prefix + "_")
    assert "no-store" in response["Cache-Control"]

    key.refresh_from_db()
    grace = timedelta(hours=settings.API_KEY_ROTATION_GRACE_HOURS)
    assert before + grace <= key.previous_secret_valid_until <= timezone.now() + grace
    assert _me(new_secret).status_code == 200
    assert _me(old_secret).status_code == 200  # within the grace period

    key.previous_secret_valid_until = timezone.now() - timedelta(seconds=1)
    key.save(update_fields=["previous_secret_valid_until"])
    assert _me(old_secret).status_code == 401
    assert _me(new_secret).status_code == 200
    assert new_secret not in client.get(_url(team, "api_key_list")).content.decode()


def test_rotating_asks_for_the_password_first(team, client_for):
    key, old_secret = _issue(team, Role.TRADER)
    url = _url(team, "api_key_rotate", key.pk)
    response = client_for(team.trader).post(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_reauthenticate')}?{urlencode({'next': url})}"
    key.refresh_from_db()
    assert key.secret_hash == api_key_hash(old_secret)
    assert key.rotated_at is None


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_only_the_keys_owner_can_rotate_it(team, client_for, role):
    key, secret = _issue(team, Role.TRADER)
    client = _reauthenticated(client_for, team.user(role))
    assert client.get(_url(team, "api_key_rotate", key.pk)).status_code == 403
    assert client.post(_url(team, "api_key_rotate", key.pk)).status_code == 403
    key.refresh_from_db()
    assert key.secret_hash == api_key_hash(secret)
    page = client.get(_url(team, "api_key_list")).content.decode()
    assert _url(team, "api_key_rotate", key.pk) not in page
    assert _url(team, "api_key_revoke", key.pk) in page


def test_a_revoked_key_cannot_be_rotated(team, client_for):
    key, _ = _issue(team, Role.TRADER)
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    client = _reauthenticated(client_for, team.trader)
    response = client.post(_url(team, "api_key_rotate", key.pk))
    assert response.status_code == 302
    assert _messages(response) == ["A revoked or expired key cannot be rotated."]
    assert not AuditEvent.objects.for_org(team.org).filter(action="api_key.rotated").exists()


# --- revoking ---------------------------------------------------------------------------------


def test_the_owner_revokes_their_key_and_it_stops_working_at_once(team, client_for):
    key, secret = _issue(team, Role.VIEWER, name="dashboard")
    assert _me(secret).status_code == 200
    response = client_for(team.viewer).post(_url(team, "api_key_revoke", key.pk))
    assert response.status_code == 302
    assert response["Location"] == _url(team, "api_key_list")
    assert _messages(response) == ["Revoked the key “dashboard”: it no longer works."]
    assert _me(secret).status_code == 401
    key.refresh_from_db()
    assert key.revoked_at is not None


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_an_admin_revokes_another_members_key(team, client_for, role):
    key, secret = _issue(team, Role.TRADER, name="trader bot")
    response = client_for(team.user(role)).post(_url(team, "api_key_revoke", key.pk))
    assert _messages(response) == [f"Revoked the key “trader bot” of {team.trader.email}: it no longer works."]
    assert _me(secret).status_code == 401
    event = AuditEvent.objects.for_org(team.org).get(action="api_key.revoked")
    assert event.actor_user_id == team.user(role).pk
    assert event.details["owner"] == team.trader.email


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER])
def test_a_member_cannot_see_or_revoke_someone_elses_key(team, client_for, role):
    other = Role.TRADER if role == Role.VIEWER else Role.VIEWER
    key, secret = _issue(team, other)
    client = client_for(team.user(role))
    assert client.post(_url(team, "api_key_revoke", key.pk)).status_code == 404
    assert client.get(_url(team, "api_key_rotate", key.pk)).status_code == 404
    assert _me(secret).status_code == 200


def test_revoking_is_post_only(team, client_for):
    key, _ = _issue(team, Role.VIEWER)
    assert client_for(team.viewer).get(_url(team, "api_key_revoke", key.pk)).status_code == 405


# --- across organizations ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["api_key_rotate", "api_key_revoke"])
def test_another_organizations_key_is_404_under_this_slug(team, other_team, client_for, name):
    foreign, secret = _issue(other_team, Role.OWNER)
    client = _reauthenticated(client_for, team.owner)
    assert client.get(_url(team, name, foreign.pk)).status_code in (404, 405)
    assert client.post(_url(team, name, foreign.pk)).status_code == 404
    foreign.refresh_from_db()
    assert (foreign.revoked_at, foreign.rotated_at) == (None, None)
    assert _me(secret).status_code == 200


def test_a_key_only_works_in_its_own_organization(team, other_team, client_for):
    MembershipFactory(organization=other_team.org, user=team.trader, role=Role.ADMIN)
    client = _reauthenticated(client_for, team.trader)
    secret = _shown_key(_create(client, team))
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert Client().get(f"/api/v1/orgs/{team.org.slug}/", **headers).status_code == 200
    assert Client().get(f"/api/v1/orgs/{other_team.org.slug}/", **headers).status_code == 404


# --- audit ------------------------------------------------------------------------------------


def test_creating_rotating_and_revoking_are_audited_without_the_secret(team, client_for):
    client = _reauthenticated(client_for, team.trader)
    created_secret = _shown_key(_create(client, team, name="audited", scopes=["read", "trade"]))
    [key] = _keys(team)
    rotated_secret = _shown_key(client.post(_url(team, "api_key_rotate", key.pk)))
    client.post(_url(team, "api_key_revoke", key.pk))

    events = AuditEvent.objects.for_org(team.org).filter(action__startswith="api_key.").order_by("id")
    assert [event.action for event in events] == ["api_key.created", "api_key.rotated", "api_key.revoked"]
    for event in events:
        assert event.actor_user_id == team.trader.pk
        assert (event.target_type, event.target_id) == ("accounts.apikey", str(key.pk))
        assert event.ip == "127.0.0.1"
        stored = str(event.details) + event.target_label
        assert created_secret not in stored
        assert rotated_secret not in stored
        assert created_secret.rsplit("_", 1)[1] not in stored
    assert events[0].details["scopes"] == ["read", "trade"]
    assert events[0].target_label.startswith("audited (")
