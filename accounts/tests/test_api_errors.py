"""One error shape everywhere under /api/ (ARCHITECTURE.md rule 7): {"type", "code", "detail",
"fields"} for 400 (per field), malformed JSON, 401, 403, 404 (DRF or not), 405, 409, 413, 415,
429 (with Retry-After) and 500; and nothing stored changes on bad input."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse

from accounts.roles import Role
from accounts.tests.api_helpers import (
    assert_error,
    issue_key,
    key_client,
    membership_of,
    reauthenticated_client,
    stored_rows,
)
from accounts.tests.factories import InvitationFactory

pytestmark = pytest.mark.django_db

TEST_URLCONF = "accounts.tests.api_helpers"


@pytest.fixture
def owner(team):
    """The owner's browser session, freshly re-authenticated (minting keys needs it)."""
    return reauthenticated_client(team.owner)


def keys_url(org) -> str:
    return reverse("api-key-list", kwargs={"org_slug": org.slug})


def org_url(org) -> str:
    return reverse("organization-detail", kwargs={"org_slug": org.slug})


def member_url(org, membership) -> str:
    return reverse("member-detail", kwargs={"org_slug": org.slug, "pk": membership.pk})


def unchanged(client: Client, method: str, path: str, body, **extra):
    """Send a bad request and check nothing stored changed; returns the response."""
    before = stored_rows()
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    extra.setdefault("content_type", "application/json")
    response = getattr(client, method)(path, body, **extra)
    assert stored_rows() == before
    return response


# --- 400 ----------------------------------------------------------------------------------


def test_invalid_fields_are_a_400_with_a_message_per_field(team, owner):
    response = unchanged(owner, "post", keys_url(team.org), {"name": "", "scopes": ["superuser"], "expires_at": "soon"})
    body = assert_error(response, 400, "invalid")
    assert set(body["fields"]) >= {"name", "expires_at"}
    assert any(field == "scopes" or field.startswith("scopes.") for field in body["fields"])
    for messages in body["fields"].values():
        assert messages and all(isinstance(m, str) and m for m in messages)
    assert "name" in body["detail"]  # the summary names the fields a person must fix


def test_wrong_types_are_a_400(team, owner):
    response = unchanged(owner, "post", keys_url(team.org), {"name": ["a"], "scopes": "read"})
    body = assert_error(response, 400, "invalid")
    assert {"name", "scopes"} <= set(body["fields"])


def test_a_missing_required_field_is_named(team, owner):
    body = assert_error(unchanged(owner, "post", keys_url(team.org), {"scopes": ["read"]}), 400, "invalid")
    assert list(body["fields"]) == ["name"]


def test_an_invalid_role_is_a_400_on_the_role_field(team, owner):
    path = member_url(team.org, membership_of(team.org, team.trader))
    body = assert_error(unchanged(owner, "patch", path, {"role": "superuser"}), 400, "invalid")
    assert list(body["fields"]) == ["role"]


@pytest.mark.parametrize("payload", ["[1, 2]", '"a string"', "42"])
def test_a_body_that_is_not_an_object_is_a_400(team, owner, payload):
    assert_error(unchanged(owner, "patch", org_url(team.org), payload), 400)


def test_an_absurdly_long_name_is_a_400(team, owner):
    body = assert_error(unchanged(owner, "patch", org_url(team.org), {"name": "x" * 10_000}), 400, "invalid")
    assert list(body["fields"]) == ["name"]


def test_unknown_fields_are_refused_rather_than_silently_ignored(team, owner):
    """Issue 3, "Bad input": unknown fields get a clear 4xx and nothing stored changes. A typo
    (``require2fa``) must not answer 200 while changing nothing (Stripe: "unknown parameter")."""
    response = unchanged(owner, "patch", org_url(team.org), {"require2fa": True})
    body = assert_error(response, 400)
    assert "require2fa" in body["fields"]


def test_unknown_fields_on_a_create_are_refused_and_nothing_is_created(team, owner):
    response = unchanged(owner, "post", keys_url(team.org), {"name": "x", "scopes": ["read"], "is_superuser": True})
    assert "is_superuser" in assert_error(response, 400)["fields"]


@pytest.mark.parametrize("payload", ['{"name": "x", ', "{'name': 'x'}", "not json at all", '{"name": "\\ud800"'])
def test_malformed_json_is_a_400_parse_error(team, owner, payload):
    body = assert_error(unchanged(owner, "post", keys_url(team.org), payload), 400, "parse_error")
    assert "JSON" in body["detail"]


def test_a_non_numeric_content_length_is_a_400(team, owner):
    response = unchanged(owner, "post", keys_url(team.org), "{}", CONTENT_LENGTH="lots")
    assert_error(response, 400, "invalid_content_length")


# --- 401, 403, 404 --------------------------------------------------------------------------


def test_no_credentials_is_401_with_a_challenge(team):
    response = unchanged(Client(), "post", keys_url(team.org), {"name": "x", "scopes": ["read"]})
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_wrong_key_is_401(team):
    response = unchanged(Client(HTTP_AUTHORIZATION="Bearer ak_live_" + "x" * 51), "patch", org_url(team.org), {})
    assert_error(response, 401, "invalid_api_key")


def test_a_role_too_low_is_403_and_says_which_role(team, client_for):
    viewer = client_for(team.viewer)
    body = assert_error(unchanged(viewer, "patch", org_url(team.org), {"name": "Mine now"}), 403, "role_too_low")
    assert "admin" in body["detail"].lower()


def test_a_missing_scope_is_403_and_says_which_scope(team):
    client = key_client(issue_key(team.org, team.owner, scopes=["read"]))
    body = assert_error(unchanged(client, "patch", org_url(team.org), {"name": "Renamed"}), 403, "scope_missing")
    assert "admin" in body["detail"]


def test_an_unknown_object_is_404(team, owner):
    path = reverse("member-detail", kwargs={"org_slug": team.org.slug, "pk": 987654321})
    assert_error(unchanged(owner, "patch", path, {"role": Role.VIEWER}), 404, "not_found")


def test_a_non_numeric_object_id_is_404(team, owner):
    path = reverse("member-detail", kwargs={"org_slug": team.org.slug, "pk": "abc"})
    assert_error(owner.get(path), 404, "not_found")


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v2/", "/api/", "/api/v1/orgs/x/y/z/"])
def test_a_404_outside_drf_under_api_is_json_too(owner, path):
    assert_error(owner.get(path), 404, "not_found")


def test_a_404_outside_api_stays_html(owner):
    response = owner.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_an_invalid_cursor_is_404(team, owner):
    assert_error(owner.get(keys_url(team.org) + "?cursor=not-a-cursor"), 404, "not_found")


# --- 405 ----------------------------------------------------------------------------------


def test_an_unsupported_method_on_a_non_organization_url_is_405(owner):
    assert_error(owner.post(reverse("me"), "{}", content_type="application/json"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "method,url_name,with_id",
    [
        ("put", "organization-detail", False),
        ("delete", "organization-detail", False),
        ("put", "member-detail", True),
        ("post", "member-list", False),
        ("delete", "audit-event-list", False),
        ("patch", "api-key-detail", True),
    ],
)
def test_an_unsupported_method_on_an_organization_url_is_405(team, method, url_name, with_id):
    client = Client(raise_request_exception=False)
    client.force_login(team.owner)
    kwargs = {"org_slug": team.org.slug}
    if with_id:
        kwargs["pk"] = {
            "member-detail": lambda: membership_of(team.org, team.trader).pk,
            "api-key-detail": lambda: issue_key(team.org, team.owner).api_key.pk,
        }[url_name]()
    response = unchanged(client, method, reverse(url_name, kwargs=kwargs), {})
    body = assert_error(response, 405, "method_not_allowed")
    assert method.upper() in body["detail"]


# --- 409 ----------------------------------------------------------------------------------


def test_demoting_the_last_owner_is_409(team, owner):
    path = member_url(team.org, membership_of(team.org, team.owner))
    assert_error(unchanged(owner, "patch", path, {"role": Role.ADMIN}), 409, "last_owner")


def test_inviting_someone_twice_is_409_naming_the_email_field(team, owner):
    InvitationFactory(organization=team.org, email="ana@example.com")
    path = reverse("invitation-list", kwargs={"org_slug": team.org.slug})
    body = assert_error(unchanged(owner, "post", path, {"email": "ANA@example.com", "role": "viewer"}), 409)
    assert list(body["fields"]) == ["email"]


# --- 413, 415 -----------------------------------------------------------------------------


@override_settings(API_MAX_BODY_BYTES=200)
def test_a_body_over_the_limit_is_413(team, owner):
    big = {"name": "x" * 300, "scopes": ["read"]}
    body = assert_error(unchanged(owner, "post", keys_url(team.org), big), 413, "body_too_large")
    assert "200" in body["detail"]
    small = owner.post(keys_url(team.org), {"name": "ok", "scopes": ["read"]}, content_type="application/json")
    assert small.status_code == 201


def test_the_default_body_limit_is_one_mebibyte(team, owner):
    huge = json.dumps({"name": "x", "scopes": ["read"], "pad": "y" * 1_048_576})
    assert_error(unchanged(owner, "post", keys_url(team.org), huge), 413, "body_too_large")


@pytest.mark.parametrize(
    "content_type,payload",
    [
        ("application/x-www-form-urlencoded", "name=x&scopes=read"),
        (
            "multipart/form-data; boundary=BoUnDaRy",
            '--BoUnDaRy\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--BoUnDaRy--\r\n',
        ),
        ("text/plain", '{"name": "x", "scopes": ["read"]}'),
    ],
)
def test_a_body_that_is_not_json_is_415(team, owner, content_type, payload):
    response = unchanged(owner, "post", keys_url(team.org), payload, content_type=content_type)
    body = assert_error(response, 415, "unsupported_media_type")
    assert content_type.split(";")[0] in body["detail"]


# --- 429 ----------------------------------------------------------------------------------


@override_settings(API_RATE_PER_KEY="3/min")
def test_a_key_over_its_rate_gets_429_with_retry_after(team):
    cache.clear()
    issued = issue_key(team.org, team.owner)
    client = key_client(issued)
    statuses = [client.get(org_url(team.org)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = client.get(org_url(team.org))
    assert_error(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
    # Another key (even of the same person) has its own budget.
    assert key_client(issue_key(team.org, team.owner)).get(org_url(team.org)).status_code == 200


@override_settings(API_RATE_PER_USER="2/min")
def test_a_signed_in_user_over_their_rate_gets_429(team, owner):
    cache.clear()
    assert [owner.get(reverse("me")).status_code for _ in range(2)] == [200, 200]
    response = owner.get(org_url(team.org))
    assert_error(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60


@override_settings(API_RATE_PER_KEY="1/min")
def test_a_throttled_write_stores_nothing(team):
    cache.clear()
    client = key_client(issue_key(team.org, team.owner))
    assert client.get(org_url(team.org)).status_code == 200
    assert_error(unchanged(client, "patch", org_url(team.org), {"name": "Too fast"}), 429, "throttled")


# --- 500 ----------------------------------------------------------------------------------


@override_settings(ROOT_URLCONF=TEST_URLCONF)
def test_an_unexpected_exception_is_a_json_500_and_is_logged(team, client_for, caplog):
    client = Client(raise_request_exception=False)
    client.force_login(team.owner)
    response = client.get("/api/v1/explode")
    body = assert_error(response, 500, "server_error")
    assert "an unexpected bug" not in json.dumps(body)  # internals are logged, not shown
    logged = [record for record in caplog.records if record.exc_info and record.exc_info[0] is RuntimeError]
    assert logged, "the 500 was not logged with its traceback"


@override_settings(ROOT_URLCONF=TEST_URLCONF)
def test_a_bug_in_an_organization_view_is_a_json_500(team):
    client = Client(raise_request_exception=False)
    client.force_login(team.owner)
    path = f"/api/v1/orgs/{team.org.slug}/explode/"
    assert_error(client.get(path), 500, "server_error")


@override_settings(ROOT_URLCONF=TEST_URLCONF)
def test_the_test_urlconf_serves_the_real_api_too(team, owner):
    """The failing views are added to the site's URLs, not in place of them."""
    assert owner.get(org_url(team.org)).status_code == 200
