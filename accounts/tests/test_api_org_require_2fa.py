"""Walks the organization-requires-2FA rule over every operation under /api/v1/orgs/<slug>/
(the operations, factories and bodies of test_api_url_walker.py): in an organization that
requires 2FA, a browser session that did not pass a second factor and an API key not created
from such a session get 403 two_factor_required, even when the account has TOTP; a session
that passed it, and a key created from one, get through. Also: which keys carry the mark."""

from __future__ import annotations

import json

import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse

from accounts.models import ApiKey
from accounts.roles import Role
from accounts.tests.api_helpers import assert_error, issue_key, key_client, reauthenticated_client
from accounts.tests.second_factor import client_with_second_factor, client_without_second_factor, enable_totp
from accounts.tests.test_api_url_walker import OPERATIONS, URL_FACTORIES, _assert_gets_through, _path, _request

pytestmark = pytest.mark.django_db


@pytest.fixture
def strict_team(team):
    team.org.require_2fa = True
    team.org.save(update_fields=["require_2fa"])
    return team


def _target(op, team, user) -> str:
    return _path(op, team.org.slug, URL_FACTORIES[op.name](team, user))


# --- the walk -----------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_a_session_that_did_not_pass_a_second_factor_gets_403(op, strict_team):
    """The account has TOTP and the password was just confirmed; the login skipped the code."""
    user = strict_team.user(op.min_role)
    response = _request(op, client_without_second_factor(user), _target(op, strict_team, user))
    assert_error(response, 403, "two_factor_required")


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_a_key_not_created_from_a_second_factor_session_gets_403(op, strict_team):
    user = strict_team.user(op.min_role)
    enable_totp(user)
    client = key_client(issue_key(strict_team.org, user, scopes=[op.scope]))
    assert_error(_request(op, client, _target(op, strict_team, user)), 403, "two_factor_required")


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_a_session_that_passed_a_second_factor_gets_through(op, strict_team):
    user = strict_team.user(op.min_role)
    response = _request(op, client_with_second_factor(user), _target(op, strict_team, user))
    _assert_gets_through(response, f"{op.min_role} session with 2FA")


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_a_key_created_from_a_second_factor_session_gets_through(op, strict_team):
    user = strict_team.user(op.min_role)
    enable_totp(user)
    issued = issue_key(strict_team.org, user, scopes=[op.scope], created_with_second_factor=True)
    response = _request(op, key_client(issued), _target(op, strict_team, user))
    _assert_gets_through(response, f"{op.min_role} key from a 2FA session")


# --- the message says what to do -----------------------------------------------------------


def test_the_refusals_say_what_is_missing(strict_team):
    path = reverse("organization-detail", kwargs={"org_slug": strict_team.org.slug})
    no_totp = assert_error(reauthenticated_client(strict_team.viewer).get(path), 403, "two_factor_required")
    assert "enable it in your account" in no_totp["detail"]
    skipped = assert_error(client_without_second_factor(strict_team.admin).get(path), 403, "two_factor_required")
    assert "this session did not pass it" in skipped["detail"]
    old_key = key_client(issue_key(strict_team.org, strict_team.admin))
    assert "create a new key" in assert_error(old_key.get(path), 403, "two_factor_required")["detail"]


def test_a_marked_key_stops_working_when_its_owner_removes_their_second_factor(strict_team):
    enable_totp(strict_team.trader)
    issued = issue_key(strict_team.org, strict_team.trader, created_with_second_factor=True)
    path = reverse("organization-detail", kwargs={"org_slug": strict_team.org.slug})
    assert key_client(issued).get(path).status_code == 200
    Authenticator.objects.filter(user=strict_team.trader).delete()
    assert_error(key_client(issued).get(path), 403, "two_factor_required")


# --- which keys carry the mark -------------------------------------------------------------


def _create_key_through_the_api(client, team, **extra) -> ApiKey:
    path = reverse("api-key-list", kwargs={"org_slug": team.org.slug})
    body = json.dumps({"name": "made here", "scopes": ["read"]})
    response = client.post(path, body, content_type="application/json", **extra)
    assert response.status_code == 201, response.content[:300]
    return ApiKey.objects.for_org(team.org).get(pk=response.json()["id"])


def test_a_key_created_by_a_session_that_passed_a_second_factor_is_marked(team):
    assert _create_key_through_the_api(client_with_second_factor(team.trader), team).created_with_second_factor


def test_a_key_created_by_a_password_only_session_is_not_marked(team):
    assert not _create_key_through_the_api(reauthenticated_client(team.trader), team).created_with_second_factor


@pytest.mark.parametrize("parent_marked", [True, False])
def test_a_key_created_by_a_key_carries_its_parents_mark(team, parent_marked):
    parent = issue_key(team.org, team.owner, created_with_second_factor=parent_marked)
    child = _create_key_through_the_api(key_client(parent), team)
    assert child.created_with_second_factor is parent_marked


def test_a_key_created_on_the_page_from_a_second_factor_session_works_in_a_strict_organization(strict_team):
    client = client_with_second_factor(strict_team.trader)
    page = client.post(
        reverse("api_key_create", args=[strict_team.org.slug]), {"name": "from the page", "scopes": ["read"]}
    )
    assert page.status_code == 200
    secret = page.context["secret"]
    path = reverse("organization-detail", kwargs={"org_slug": strict_team.org.slug})
    assert key_client(secret).get(path).status_code == 200
    assert ApiKey.objects.for_org(strict_team.org).get(name="from the page").created_with_second_factor


def test_roles_are_still_checked_after_the_second_factor(strict_team):
    """Passing 2FA does not lift the role check: a viewer still cannot invite."""
    path = reverse("invitation-list", kwargs={"org_slug": strict_team.org.slug})
    body = json.dumps({"email": "new@example.com", "role": Role.VIEWER})
    response = client_with_second_factor(strict_team.viewer).post(path, body, content_type="application/json")
    assert_error(response, 403, "role_too_low")
