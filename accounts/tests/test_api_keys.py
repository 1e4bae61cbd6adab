"""Per-user API keys over the API: shown once, stored as prefix + HMAC, rotated with a grace
period, revoked, limited by expiry, IP allow-list, scopes and the owner's role; usage stamped
at most once a minute; every event audited; the secret never stored, replayed or logged."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import request_context
from accounts.models import ApiKey, AuditEvent, IdempotencyRecord
from accounts.roles import Role
from accounts.services import membership_leave
from accounts.tests.api_helpers import (
    assert_error,
    issue_key,
    key_client,
    membership_of,
    reauthenticated_client,
    stored_rows,
)

pytestmark = pytest.mark.django_db

KEY_FORMAT = re.compile(r"^ak_live_[A-Za-z0-9]{8,}_[A-Za-z0-9]{32,}$")


def keys_url(org) -> str:
    return reverse("api-key-list", kwargs={"org_slug": org.slug})


def key_url(org, api_key, action: str = "detail") -> str:
    return reverse(f"api-key-{action}", kwargs={"org_slug": org.slug, "pk": api_key.pk})


def org_url(org) -> str:
    return reverse("organization-detail", kwargs={"org_slug": org.slug})


def create_key(client: Client, org, **body) -> dict:
    body = {"name": "ci", "scopes": ["read"], **body}
    response = client.post(keys_url(org), body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def expected_hash(raw_key: str) -> str:
    """HMAC-SHA256 of the whole key under the server secret, computed here from the spec."""
    return hmac.new(settings.API_KEY_HMAC_SECRET.encode(), raw_key.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def owner_client(team):
    """The owner's browser session, freshly re-authenticated (minting keys needs it)."""
    return reauthenticated_client(team.owner)


@pytest.fixture
def fresh_proxies():
    """TRUSTED_PROXIES is parsed once and cached: clear around tests that override it."""
    request_context._trusted_networks.cache_clear()
    yield
    request_context._trusted_networks.cache_clear()


# --- create -------------------------------------------------------------------------------


def test_a_created_key_is_shown_once_and_only_its_prefix_and_hmac_are_stored(team, owner_client):
    response = owner_client.post(
        keys_url(team.org), {"name": "grafana", "scopes": ["read"]}, content_type="application/json"
    )
    assert response.status_code == 201
    body = response.json()
    raw = body["key"]
    assert KEY_FORMAT.match(raw), raw
    assert response.content.decode().count(raw) == 1

    stored = ApiKey.objects.for_org(team.org).get(pk=body["id"])
    assert raw.startswith(stored.prefix + "_") and stored.prefix.startswith("ak_live_")
    assert body["prefix"] == stored.prefix
    assert re.fullmatch(r"[0-9a-f]{64}", stored.secret_hash)
    assert stored.secret_hash == expected_hash(raw)
    secret_part = raw[len(stored.prefix) + 1 :]
    row = json.dumps(ApiKey.all_objects.filter(pk=stored.pk).values().get(), default=str)
    assert raw not in row and secret_part not in row

    for path in (keys_url(team.org), key_url(team.org, stored)):
        listed = owner_client.get(path)
        assert listed.status_code == 200
        assert secret_part not in listed.content.decode()
        assert "key" not in (listed.json()["results"][0] if "results" in listed.json() else listed.json())


def test_a_created_key_authenticates_in_its_organization(team, owner_client):
    raw = create_key(owner_client, team.org)["key"]
    response = key_client(raw).get(org_url(team.org))
    assert response.status_code == 200
    assert response.json()["scopes"] == ["read"]


def test_a_key_cannot_expire_in_the_past_and_nothing_is_stored(team, owner_client):
    before = stored_rows()
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    response = owner_client.post(
        keys_url(team.org), {"name": "late", "scopes": ["read"], "expires_at": past}, content_type="application/json"
    )
    assert "expires_at" in assert_error(response, 400)["fields"]
    assert stored_rows() == before


def test_an_invalid_cidr_is_refused_per_field(team, owner_client):
    before = stored_rows()
    response = owner_client.post(
        keys_url(team.org),
        {"name": "x", "scopes": ["read"], "allowed_cidrs": ["10.0.0.0/33"]},
        content_type="application/json",
    )
    assert "allowed_cidrs" in assert_error(response, 400)["fields"]
    assert stored_rows() == before


def test_a_read_key_cannot_mint_an_admin_key(team):
    read_key = issue_key(team.org, team.owner, scopes=["read"])
    before = stored_rows()
    response = key_client(read_key).post(
        keys_url(team.org), {"name": "escalate", "scopes": ["admin"]}, content_type="application/json"
    )
    assert_error(response, 403, "scope_not_grantable")
    assert stored_rows() == before


def test_a_viewer_cannot_mint_an_admin_or_trade_key(team, client_for):
    client = reauthenticated_client(team.viewer)
    before = stored_rows()
    for scopes in (["admin"], ["read", "trade"]):
        response = client.post(keys_url(team.org), {"name": "x", "scopes": scopes}, content_type="application/json")
        assert_error(response, 403, "scope_not_grantable")
    assert stored_rows() == before
    assert create_key(client, team.org, scopes=["read"])["scopes"] == ["read"]


# --- list, revoke, rotate -----------------------------------------------------------------


def test_members_list_their_own_keys_and_admins_list_everyones(team, client_for):
    mine = issue_key(team.org, team.viewer, name="viewer's")
    theirs = issue_key(team.org, team.trader, name="trader's")
    admins = issue_key(team.org, team.admin, name="admin's")

    def listed_ids(client: Client) -> set[int]:
        response = client.get(keys_url(team.org))
        assert response.status_code == 200
        return {row["id"] for row in response.json()["results"]}

    assert listed_ids(client_for(team.viewer)) == {mine.api_key.pk}
    assert listed_ids(client_for(team.admin)) == {mine.api_key.pk, theirs.api_key.pk, admins.api_key.pk}
    # An admin's key without the admin scope sees only the admin's own keys.
    read_only = issue_key(team.org, team.admin, scopes=["read"], name="admin read")
    assert listed_ids(key_client(read_only)) == {admins.api_key.pk, read_only.api_key.pk}
    # Another member's key is not there for a viewer, not even by id.
    assert_error(client_for(team.viewer).get(key_url(team.org, theirs.api_key)), 404, "not_found")


def test_demoting_a_keys_owner_narrows_what_the_key_sees_at_once(team):
    """Effective rights are the key's scopes within the owner's *current* role."""
    own = issue_key(team.org, team.admin)
    others = issue_key(team.org, team.trader)
    client = key_client(own)
    listed = {row["id"] for row in client.get(keys_url(team.org)).json()["results"]}
    assert listed == {own.api_key.pk, others.api_key.pk}

    membership = membership_of(team.org, team.admin)
    membership.role = Role.VIEWER
    membership.save(update_fields=["role"])
    assert client.get(org_url(team.org)).json()["scopes"] == ["read"]
    assert {row["id"] for row in client.get(keys_url(team.org)).json()["results"]} == {own.api_key.pk}
    assert ApiKey.objects.for_org(team.org).get(pk=own.api_key.pk).scopes == ["read", "trade", "admin"]


def test_a_revoked_key_stops_working_at_once(team, owner_client):
    issued = issue_key(team.org, team.trader)
    assert key_client(issued).get(org_url(team.org)).status_code == 200
    assert owner_client.delete(key_url(team.org, issued.api_key)).status_code == 204
    assert_error(key_client(issued).get(org_url(team.org)), 401, "api_key_revoked")
    assert ApiKey.objects.for_org(team.org).get(pk=issued.api_key.pk).revoked_at is not None


def test_a_member_cannot_revoke_another_members_key(team, client_for):
    issued = issue_key(team.org, team.trader)
    viewer = client_for(team.viewer)
    before = stored_rows()
    assert_error(viewer.delete(key_url(team.org, issued.api_key)), 404, "not_found")
    assert stored_rows() == before


def test_rotation_issues_a_new_secret_and_keeps_the_old_one_for_the_grace_period(team, client_for):
    issued = issue_key(team.org, team.trader)
    response = reauthenticated_client(team.trader).post(key_url(team.org, issued.api_key, "rotate"))
    assert response.status_code == 200
    body = response.json()
    new_raw = body["key"]
    assert KEY_FORMAT.match(new_raw) and new_raw != issued.secret
    assert body["id"] == issued.api_key.pk

    stored = ApiKey.objects.for_org(team.org).get(pk=issued.api_key.pk)
    assert stored.secret_hash == expected_hash(new_raw)
    assert stored.previous_secret_hash == expected_hash(issued.secret)
    grace = stored.previous_secret_valid_until - stored.rotated_at
    assert grace == timedelta(hours=settings.API_KEY_ROTATION_GRACE_HOURS)

    assert key_client(new_raw).get(org_url(team.org)).status_code == 200
    assert key_client(issued).get(org_url(team.org)).status_code == 200  # during the grace period

    ApiKey.objects.for_org(team.org).filter(pk=stored.pk).update(
        previous_secret_valid_until=timezone.now() - timedelta(seconds=1)
    )
    assert_error(key_client(issued).get(org_url(team.org)), 401, "invalid_api_key")
    assert key_client(new_raw).get(org_url(team.org)).status_code == 200


def test_only_the_owner_of_a_key_rotates_it(team, client_for):
    issued = issue_key(team.org, team.trader)
    admin = client_for(team.admin)
    before = stored_rows()
    assert_error(admin.post(key_url(team.org, issued.api_key, "rotate")), 403)
    assert stored_rows() == before


def test_a_revoked_key_cannot_be_rotated(team, client_for):
    issued = issue_key(team.org, team.trader)
    client = reauthenticated_client(team.trader)
    assert client.delete(key_url(team.org, issued.api_key)).status_code == 204
    before = stored_rows()
    assert_error(client.post(key_url(team.org, issued.api_key, "rotate")), 400, "key_inactive")
    assert stored_rows() == before


# --- rejected credentials -----------------------------------------------------------------


def test_an_expired_key_is_401_api_key_expired(team):
    issued = issue_key(team.org, team.owner, expires_at=timezone.now() + timedelta(days=1))
    assert key_client(issued).get(org_url(team.org)).status_code == 200
    ApiKey.objects.for_org(team.org).filter(pk=issued.api_key.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert_error(key_client(issued).get(org_url(team.org)), 401, "api_key_expired")


def _tampered(raw: str, index: int) -> str:
    replacement = "A" if raw[index] != "A" else "B"
    return raw[:index] + replacement + raw[index + 1 :]


@pytest.mark.parametrize("where", ["last secret char", "first secret char", "lookup part"])
def test_a_tampered_key_is_401(team, where):
    issued = issue_key(team.org, team.owner)
    prefix_length = len(issued.api_key.prefix)
    index = {"last secret char": -1, "first secret char": prefix_length + 1, "lookup part": len("ak_live_") + 2}[where]
    tampered = _tampered(issued.secret, index if index >= 0 else len(issued.secret) - 1)
    assert tampered != issued.secret and len(tampered) == len(issued.secret)
    response = key_client(tampered).get(org_url(team.org))
    body = assert_error(response, 401, "invalid_api_key")
    assert issued.secret not in json.dumps(body)


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Bearer a b", "Bearer not-a-key", "Bearer ak_live_", "Bearer ak_live_short_secret"],
)
def test_a_malformed_bearer_header_is_401(team, header):
    response = Client(HTTP_AUTHORIZATION=header).get(org_url(team.org))
    assert_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_no_credentials_at_all_is_401(team):
    response = Client().get(org_url(team.org))
    assert_error(response, 401, "not_authenticated")


def test_a_key_of_a_deactivated_user_is_401(team):
    issued = issue_key(team.org, team.trader)
    team.trader.is_active = False
    team.trader.save(update_fields=["is_active"])
    assert_error(key_client(issued).get(org_url(team.org)), 401, "invalid_api_key")


# --- IP allow-list ------------------------------------------------------------------------


def test_a_key_used_from_outside_its_allow_list_is_403(team, fresh_proxies):
    issued = issue_key(team.org, team.owner, allowed_cidrs=["203.0.113.0/24", "2001:db8::/32"])
    client = key_client(issued)
    assert_error(client.get(org_url(team.org), REMOTE_ADDR="198.51.100.7"), 403, "ip_not_allowed")
    assert client.get(org_url(team.org), REMOTE_ADDR="203.0.113.9").status_code == 200
    assert client.get(org_url(team.org), REMOTE_ADDR="2001:db8::1").status_code == 200


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(team, fresh_proxies):
    issued = issue_key(team.org, team.owner, allowed_cidrs=["203.0.113.0/24"])
    client = key_client(issued)
    spoofed = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert_error(client.get(org_url(team.org), **spoofed), 403, "ip_not_allowed")


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_behind_a_trusted_proxy_the_forwarded_client_ip_is_used(team, fresh_proxies):
    issued = issue_key(team.org, team.owner, allowed_cidrs=["203.0.113.0/24"])
    client = key_client(issued)
    via_proxy = {"REMOTE_ADDR": "10.0.0.5"}
    assert client.get(org_url(team.org), HTTP_X_FORWARDED_FOR="203.0.113.9", **via_proxy).status_code == 200
    assert_error(client.get(org_url(team.org), HTTP_X_FORWARDED_FOR="198.51.100.7", **via_proxy), 403, "ip_not_allowed")
    # A client cannot smuggle an allowed address in front of its real one: the nearest
    # untrusted hop (the address the proxy saw) counts.
    chained = "203.0.113.9, 198.51.100.7"
    assert_error(client.get(org_url(team.org), HTTP_X_FORWARDED_FOR=chained, **via_proxy), 403, "ip_not_allowed")
    # Through two trusted proxies, the first untrusted address from the right is the client.
    two_hops = "203.0.113.9, 10.1.1.1"
    assert client.get(org_url(team.org), HTTP_X_FORWARDED_FOR=two_hops, **via_proxy).status_code == 200


# --- member removal -----------------------------------------------------------------------


def test_removing_a_member_revokes_their_keys(team, client_for):
    issued = issue_key(team.org, team.trader)
    membership = membership_of(team.org, team.trader)
    path = reverse("member-detail", kwargs={"org_slug": team.org.slug, "pk": membership.pk})
    assert client_for(team.admin).delete(path).status_code == 204
    assert_error(key_client(issued).get(org_url(team.org)), 401, "api_key_revoked")
    revoked = AuditEvent.objects.for_org(team.org).filter(action="api_key.revoked", target_id=str(issued.api_key.pk))
    assert revoked.count() == 1


def test_a_member_who_leaves_loses_their_keys(team, client_for):
    issued = issue_key(team.org, team.viewer)
    response = client_for(team.viewer).post(reverse("org_leave", kwargs={"org_slug": team.org.slug}))
    assert response.status_code == 302
    assert_error(key_client(issued).get(org_url(team.org)), 401, "api_key_revoked")


def test_leaving_through_the_service_revokes_keys_too(team):
    issued = issue_key(team.org, team.admin)
    membership_leave(organization=team.org, membership=membership_of(team.org, team.admin))
    assert ApiKey.objects.for_org(team.org).get(pk=issued.api_key.pk).revoked_at is not None


def test_a_key_of_a_member_who_rejoins_stays_revoked(team, client_for):
    from accounts.services import membership_add

    issued = issue_key(team.org, team.trader)
    membership_leave(organization=team.org, membership=membership_of(team.org, team.trader))
    membership_add(organization=team.org, user=team.trader, role=Role.TRADER)
    assert_error(key_client(issued).get(org_url(team.org)), 401, "api_key_revoked")


def test_a_key_whose_membership_row_is_gone_reaches_nothing(team):
    """The membership comes with the key's own lookup; without one the organization is not
    there for the key, even if its revocation was somehow skipped."""
    issued = issue_key(team.org, team.trader)
    assert key_client(issued).get(org_url(team.org)).status_code == 200
    with connection.cursor() as cursor:  # not through membership_leave, which would revoke the key
        cursor.execute("DELETE FROM accounts_membership WHERE id = %s", [membership_of(team.org, team.trader).pk])

    assert key_client(issued).get(org_url(team.org)).status_code == 404


def test_a_role_change_applies_to_the_next_request_of_a_key(team):
    issued = issue_key(team.org, team.trader)
    membership = membership_of(team.org, team.trader)
    membership.role = Role.VIEWER
    membership.save(update_fields=["role"])

    response = key_client(issued).get(org_url(team.org))

    assert response.status_code == 200 and response.json()["role"] == Role.VIEWER


# --- last use -----------------------------------------------------------------------------


def _apikey_updates(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].startswith('UPDATE "accounts_apikey"')]


def test_last_use_is_recorded_at_most_once_a_minute_per_key(team, monkeypatch):
    issued = issue_key(team.org, team.owner)
    other = issue_key(team.org, team.owner, name="second")
    client = key_client(issued)
    with CaptureQueriesContext(connection) as captured:
        for address in ("203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5"):
            assert client.get(org_url(team.org), REMOTE_ADDR=address).status_code == 200
        assert key_client(other).get(org_url(team.org), REMOTE_ADDR="198.51.100.1").status_code == 200
    assert len(_apikey_updates(captured)) == 2  # one for each key, however many requests

    first = ApiKey.objects.for_org(team.org).get(pk=issued.api_key.pk)
    assert first.last_used_ip == "203.0.113.1"
    assert timezone.now() - first.last_used_at < timedelta(minutes=1)
    assert ApiKey.objects.for_org(team.org).get(pk=other.api_key.pk).last_used_ip == "198.51.100.1"

    # A minute later (the Redis marker has expired, and so has this process's memory of asking),
    # the next use is recorded again.
    cache.clear()
    from accounts.services import api_keys as api_keys_service

    a_minute_later = api_keys_service._monotonic() + 61
    monkeypatch.setattr(api_keys_service, "_monotonic", lambda: a_minute_later)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(org_url(team.org), REMOTE_ADDR="203.0.113.6").status_code == 200
    assert len(_apikey_updates(captured)) == 1
    assert ApiKey.objects.for_org(team.org).get(pk=issued.api_key.pk).last_used_ip == "203.0.113.6"


def test_a_session_request_records_no_key_use(team, owner_client):
    issued = issue_key(team.org, team.owner)
    assert owner_client.get(org_url(team.org)).status_code == 200
    assert ApiKey.objects.for_org(team.org).get(pk=issued.api_key.pk).last_used_at is None


# --- audit, and the secret kept out of everything ------------------------------------------


def test_actions_taken_with_a_key_are_audited_with_that_key(team):
    """The audit log has (and the API shows) actor_api_key_id: who acted includes which key."""
    issued = issue_key(team.org, team.admin)
    body = {"name": "Renamed by a program"}
    response = key_client(issued).patch(org_url(team.org), body, content_type="application/json")
    assert response.status_code == 200
    event = AuditEvent.objects.for_org(team.org).get(action="organization.updated")
    assert event.actor_user_id == team.admin.pk
    assert event.actor_api_key_id == issued.api_key.pk


def test_key_events_are_audited_and_no_record_or_log_holds_the_secret(team, client_for, capsys, caplog):
    client = reauthenticated_client(team.trader)
    created = client.post(
        keys_url(team.org),
        {"name": "bot", "scopes": ["read", "trade"]},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="create-bot-key",
    )
    assert created.status_code == 201
    first_secret = created.json()["key"]
    key_id = created.json()["id"]

    replay = client.post(
        keys_url(team.org),
        {"name": "bot", "scopes": ["read", "trade"]},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="create-bot-key",
    )
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["key"] is None
    assert {k: v for k, v in replay.json().items() if k != "key"} == {
        k: v for k, v in created.json().items() if k != "key"
    }
    assert ApiKey.objects.for_org(team.org).filter(user=team.trader).count() == 1

    rotated = client.post(reverse("api-key-rotate", kwargs={"org_slug": team.org.slug, "pk": key_id}))
    second_secret = rotated.json()["key"]
    # Using both secrets goes through authentication (and request logging) as well.
    assert key_client(second_secret).get(org_url(team.org)).status_code == 200
    assert key_client(first_secret).get(org_url(team.org)).status_code == 200
    assert client.delete(reverse("api-key-detail", kwargs={"org_slug": team.org.slug, "pk": key_id})).status_code == 204

    actions = list(
        AuditEvent.objects.for_org(team.org)
        .filter(target_id=str(key_id), action__startswith="api_key.")
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )
    assert actions == ["api_key.created", "api_key.rotated", "api_key.revoked"]

    secrets = [first_secret, second_secret]
    secret_parts = [raw.rsplit("_", 1)[1] for raw in secrets]
    audit_text = json.dumps(list(AuditEvent.all_objects.values()), default=str)
    idempotency_text = json.dumps(list(IdempotencyRecord.all_objects.values()), default=str)
    captured = capsys.readouterr()
    logs = captured.out + captured.err + caplog.text
    assert "create-bot-key" in idempotency_text  # the record exists and was searched
    assert "api_key.rotated" in audit_text
    assert "api_key.created" in logs  # the logs were captured and searched
    for text in secret_parts:
        assert text not in audit_text
        assert text not in idempotency_text
        assert text not in logs
