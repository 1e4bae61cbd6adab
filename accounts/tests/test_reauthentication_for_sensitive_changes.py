"""Pointing a webhook endpoint at a new URL (after which its past deliveries can be redelivered
there) and switching off the organization's 2FA requirement need a browser session that
recently confirmed its password, on the pages and in the API. API keys, even with the admin
scope, are refused with a 403 that says so; other changes to the same objects need neither."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.tests.api_helpers import assert_error, issue_key, key_client, reauthenticated_client
from accounts.tests.factories import PASSWORD
from accounts.tests.second_factor import client_with_second_factor, enable_totp
from accounts.tests.webhook_factories import WebhookEndpointFactory
from accounts.webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

NEW_URL = "http://127.0.0.1:9/elsewhere"  # loopback is allowed for webhooks in the test settings


def _patch(client: Client, path: str, body: dict):
    return client.patch(path, json.dumps(body), content_type="application/json")


def _endpoint_api(team, endpoint: WebhookEndpoint) -> str:
    return reverse("webhook-endpoint-detail", kwargs={"org_slug": team.org.slug, "pk": endpoint.pk})


def _organization_api(team) -> str:
    return reverse("organization-detail", kwargs={"org_slug": team.org.slug})


def _url_of(endpoint: WebhookEndpoint) -> str:
    return WebhookEndpoint.objects.for_org(endpoint.organization).get(pk=endpoint.pk).url


@pytest.fixture
def strict_team(team):
    team.org.require_2fa = True
    team.org.save(update_fields=["require_2fa"])
    return team


def _require_2fa(team) -> bool:
    team.org.refresh_from_db()
    return team.org.require_2fa


# --- webhook URL, API ---------------------------------------------------------------------


def test_an_admin_key_cannot_change_an_endpoints_url(team):
    endpoint = WebhookEndpointFactory(organization=team.org)
    client = key_client(issue_key(team.org, team.owner, scopes=["read", "trade", "admin"]))
    body = assert_error(
        _patch(client, _endpoint_api(team, endpoint), {"url": NEW_URL}), 403, "browser_session_required"
    )
    assert "API keys cannot" in body["detail"]
    assert _url_of(endpoint) == endpoint.url
    assert not AuditEvent.objects.for_org(team.org).filter(action="webhook_endpoint.updated").exists()


def test_a_session_that_did_not_just_confirm_its_password_cannot_change_an_endpoints_url(team, client_for):
    endpoint = WebhookEndpointFactory(organization=team.org)
    response = _patch(client_for(team.admin), _endpoint_api(team, endpoint), {"url": NEW_URL})
    assert_error(response, 403, "reauthentication_required")
    assert _url_of(endpoint) == endpoint.url


def test_a_session_that_just_confirmed_its_password_changes_an_endpoints_url(team):
    endpoint = WebhookEndpointFactory(organization=team.org)
    response = _patch(reauthenticated_client(team.admin), _endpoint_api(team, endpoint), {"url": NEW_URL})
    assert response.status_code == 200, response.content[:300]
    assert _url_of(endpoint) == NEW_URL


def test_a_key_may_still_change_everything_but_the_url(team):
    endpoint = WebhookEndpointFactory(organization=team.org)
    client = key_client(issue_key(team.org, team.owner))
    body = {"url": endpoint.url, "description": "Ops alerts", "active": False}  # the same URL is no change
    response = _patch(client, _endpoint_api(team, endpoint), body)
    assert response.status_code == 200, response.content[:300]
    assert response.json()["description"] == "Ops alerts" and response.json()["url"] == endpoint.url


# --- webhook URL, page --------------------------------------------------------------------


def _edit_form(url: str) -> dict:
    return {"url": url, "description": "Edited", "active": "on"}


def test_changing_an_endpoints_url_on_the_page_first_confirms_the_password(team, client_for):
    endpoint = WebhookEndpointFactory(organization=team.org)
    original = endpoint.url
    page = reverse("webhook_detail", args=[team.org.slug, endpoint.pk])
    client = client_for(team.admin)
    response = client.post(page, _edit_form(NEW_URL))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description) == (original, "")

    assert client.post(response["Location"], {"password": PASSWORD})["Location"] == page
    assert client.post(page, _edit_form(NEW_URL))["Location"] == page
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description) == (NEW_URL, "Edited")


def test_editing_an_endpoint_without_changing_its_url_needs_no_password(team, client_for):
    endpoint = WebhookEndpointFactory(organization=team.org)
    page = reverse("webhook_detail", args=[team.org.slug, endpoint.pk])
    assert client_for(team.admin).post(page, _edit_form(endpoint.url))["Location"] == page
    endpoint.refresh_from_db()
    assert endpoint.description == "Edited"


# --- switching off the 2FA requirement, API ------------------------------------------------


def test_an_admin_key_cannot_switch_off_the_2fa_requirement(strict_team):
    enable_totp(strict_team.owner)
    issued = issue_key(strict_team.org, strict_team.owner, created_with_second_factor=True)
    response = _patch(key_client(issued), _organization_api(strict_team), {"require_2fa": False})
    assert_error(response, 403, "browser_session_required")
    assert _require_2fa(strict_team) is True


def test_a_session_that_did_not_just_confirm_its_password_cannot_switch_it_off(strict_team):
    client = client_with_second_factor(strict_team.owner, reauthenticated=False)
    response = _patch(client, _organization_api(strict_team), {"require_2fa": False})
    assert_error(response, 403, "reauthentication_required")
    assert _require_2fa(strict_team) is True


def test_a_session_that_just_confirmed_its_password_switches_it_off(strict_team):
    client = client_with_second_factor(strict_team.owner, reauthenticated=True)
    response = _patch(client, _organization_api(strict_team), {"require_2fa": False})
    assert response.status_code == 200, response.content[:300]
    assert _require_2fa(strict_team) is False


def test_a_key_may_still_switch_it_on_and_rename(team):
    client = key_client(issue_key(team.org, team.owner))
    response = _patch(client, _organization_api(team), {"require_2fa": True, "name": "Alpha Capital"})
    assert response.status_code == 200, response.content[:300]
    assert _require_2fa(team) is True
