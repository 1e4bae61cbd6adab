"""Keys managed with keys: a key made by a key can neither outlive nor out-reach its parent (expiry,
IP allow-list, scopes) and is revoked with it; a key may rotate or revoke itself, but managing
other keys with a key needs the admin scope; rotating is safe to retry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey, AuditEvent
from accounts.tests.api_helpers import assert_error, issue_key, key_client, reauthenticated_client, stored_rows

pytestmark = pytest.mark.django_db

CLIENT_IP = {"REMOTE_ADDR": "203.0.113.9"}


def keys_url(org) -> str:
    return reverse("api-key-list", kwargs={"org_slug": org.slug})


def key_url(org, api_key, action: str = "detail") -> str:
    return reverse(f"api-key-{action}", kwargs={"org_slug": org.slug, "pk": api_key.pk})


def mint(parent, org, **body):
    body = {"name": "child", "scopes": ["read"], **body}
    return key_client(parent, **CLIENT_IP).post(keys_url(org), body, content_type="application/json")


def stored(org, key_id: int) -> ApiKey:
    return ApiKey.objects.for_org(org).get(pk=key_id)


# --- a key made by a key ------------------------------------------------------------------------


def test_a_child_of_an_expiring_key_inherits_its_expiry_and_cannot_ask_for_a_later_one(team):
    deadline = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    parent = issue_key(team.org, team.owner, expires_at=deadline)
    response = mint(parent, team.org)
    assert response.status_code == 201, response.content
    assert stored(team.org, response.json()["id"]).expires_at == deadline
    before = stored_rows()
    later = (deadline + timedelta(days=1)).isoformat()
    assert_error(mint(parent, team.org, expires_at=later), 403, "beyond_parent_key")
    assert stored_rows() == before
    sooner = deadline - timedelta(days=1)
    assert stored(team.org, mint(parent, team.org, expires_at=sooner.isoformat()).json()["id"]).expires_at == sooner


def test_a_child_of_an_ip_restricted_key_stays_within_its_allow_list(team):
    parent = issue_key(team.org, team.owner, allowed_cidrs=["203.0.113.0/24"])
    inherited = mint(parent, team.org)
    assert inherited.status_code == 201, inherited.content
    assert inherited.json()["allowed_cidrs"] == ["203.0.113.0/24"]
    narrower = mint(parent, team.org, allowed_cidrs=["203.0.113.8/29"])
    assert narrower.json()["allowed_cidrs"] == ["203.0.113.8/29"]
    before = stored_rows()
    for outside in (["0.0.0.0/0"], ["198.51.100.1"], ["203.0.113.0/23"], ["2001:db8::/32"]):
        assert_error(mint(parent, team.org, allowed_cidrs=outside), 403, "beyond_parent_key")
    assert stored_rows() == before


def test_a_child_key_gets_no_scope_its_parent_lacks_even_when_the_role_has_it(team):
    parent = issue_key(team.org, team.owner, scopes=["read", "trade"])
    assert_error(mint(parent, team.org, scopes=["admin"]), 403, "scope_not_grantable")
    assert mint(parent, team.org, scopes=["trade"]).status_code == 201


def test_revoking_a_key_revokes_the_keys_made_with_it_and_theirs(team):
    parent = issue_key(team.org, team.owner)
    child = mint(parent, team.org, scopes=["read", "admin"]).json()
    grandchild = key_client(child["key"], **CLIENT_IP).post(
        keys_url(team.org), {"name": "grandchild", "scopes": ["read"]}, content_type="application/json"
    )
    assert grandchild.status_code == 201, grandchild.content
    unrelated = issue_key(team.org, team.owner)
    session = reauthenticated_client(team.owner)
    assert session.delete(key_url(team.org, parent.api_key)).status_code == 204
    for secret in (child["key"], grandchild.json()["key"]):
        assert_error(key_client(secret).get(keys_url(team.org)), 401, "api_key_revoked")
    assert key_client(unrelated).get(keys_url(team.org)).status_code == 200
    revocations = AuditEvent.objects.for_org(team.org).filter(action="api_key.revoked")
    assert sorted((event.target_id, event.details.get("reason")) for event in revocations) == sorted(
        [
            (str(parent.api_key.pk), None),
            (str(child["id"]), "parent_revoked"),
            (str(grandchild.json()["id"]), "parent_revoked"),
        ]
    )


# --- managing keys with a key --------------------------------------------------------------------


def test_a_key_without_the_admin_scope_may_rotate_and_revoke_only_itself(team):
    own = issue_key(team.org, team.trader, scopes=["read", "trade"])
    sibling = issue_key(team.org, team.trader, scopes=["read"])
    client = key_client(own)
    before = stored_rows()
    assert_error(client.post(key_url(team.org, sibling.api_key, "rotate")), 403, "admin_scope_required")
    assert_error(client.delete(key_url(team.org, sibling.api_key)), 403, "admin_scope_required")
    assert stored_rows() == before
    rotated = client.post(key_url(team.org, own.api_key, "rotate"))
    assert rotated.status_code == 200
    assert key_client(rotated.json()["key"]).delete(key_url(team.org, own.api_key)).status_code == 204


def test_an_admin_scoped_key_manages_other_keys(team):
    admin_key = issue_key(team.org, team.admin)
    own_other = issue_key(team.org, team.admin, scopes=["read"])
    members = issue_key(team.org, team.trader)
    client = key_client(admin_key)
    assert client.post(key_url(team.org, own_other.api_key, "rotate")).status_code == 200
    assert client.delete(key_url(team.org, members.api_key)).status_code == 204


# --- rotation is safe to retry -------------------------------------------------------------------


def test_a_retried_rotation_keeps_the_original_secret_working(team):
    original = issue_key(team.org, team.trader)
    client = key_client(original)
    first = client.post(key_url(team.org, original.api_key, "rotate"))  # the answer is lost on the way
    assert first.status_code == 200
    deadline = stored(team.org, original.api_key.pk).previous_secret_valid_until
    retry = client.post(key_url(team.org, original.api_key, "rotate"))  # the client still holds the original
    assert retry.status_code == 200
    assert key_client(original).get(keys_url(team.org)).status_code == 200
    assert key_client(retry.json()["key"]).get(keys_url(team.org)).status_code == 200
    assert stored(team.org, original.api_key.pk).previous_secret_valid_until == deadline  # not extended
    assert_error(key_client(first.json()["key"]).get(keys_url(team.org)), 401, "invalid_api_key")
