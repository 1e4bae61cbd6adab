"""The webhook API: endpoints (list, create, get, change, delete, test, rotate the secret),
the delivery log (list with filters and cursor pages, get, redeliver) and the event types;
with each role, a key of each scope, bad input, and other organizations' ids."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import AuditEvent
from accounts.roles import Role
from accounts.tests.api_helpers import assert_error, call, issue_key, key_client, reauthenticated_client
from accounts.tests.webhook_factories import WebhookDeliveryFactory, WebhookEndpointFactory, WebhookEventFactory
from accounts.webhooks.models import WebhookDelivery, WebhookEndpoint
from asterweb import crypto

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hooks/asterai"  # loopback is allow-listed in the test settings: no DNS needed


def endpoints_url(org, *rest) -> str:
    return "/".join([f"/api/v1/orgs/{org.slug}/webhook-endpoints", *map(str, rest), ""])


def deliveries_url(org, *rest) -> str:
    return "/".join([f"/api/v1/orgs/{org.slug}/webhook-deliveries", *map(str, rest), ""])


def session(user) -> Client:
    """A browser session that has just confirmed its password (creating endpoints needs it)."""
    return reauthenticated_client(user)


def stored_endpoints(org) -> list[dict]:
    return list(WebhookEndpoint.objects.for_org(org).order_by("pk").values())


# --- endpoints ----------------------------------------------------------------------------


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(team):
    client = session(team.admin)
    response = call(
        client,
        "post",
        endpoints_url(team.org),
        {
            "url": URL,
            "description": "Ops",
            "event_types": ["member.removed", "member.added"],
        },
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["url"] == URL and body["description"] == "Ops" and body["active"] is True
    assert body["event_types"] == ["member.added", "member.removed"]  # registry order
    endpoint = WebhookEndpoint.objects.for_org(team.org).get(pk=body["id"])
    assert body["secret"] not in endpoint.secret_encrypted  # stored encrypted...
    assert crypto.decrypt(endpoint.secret_encrypted) == body["secret"]  # ...and usable to sign

    shown_again = client.get(endpoints_url(team.org, endpoint.pk)).json()
    assert "secret" not in shown_again and body["secret"] not in str(client.get(endpoints_url(team.org)).json())
    audit = AuditEvent.objects.for_org(team.org).get(action="webhook_endpoint.created")
    assert audit.actor_user_id == team.admin.pk and body["secret"] not in str(audit.details)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": ""}, "url"),
        ({"url": "https://10.0.0.5/hook"}, "url"),
        ({"url": "ftp://example.com/"}, "url"),
        ({"url": URL, "event_types": ["member.teleported"]}, "event_types.0"),
        ({"url": URL, "event_types": "member.added"}, "event_types"),
        ({"url": URL, "description": "x" * 201}, "description"),
        ({"url": URL, "active": "maybe"}, "active"),
        ({"url": URL, "secret": "whsec_mine"}, "secret"),  # unknown fields are refused
        ({"url": "https://example.com/" + "a" * 2000}, "url"),
    ],
)
def test_invalid_endpoints_are_refused_and_nothing_is_stored(team, body, field):
    response = call(session(team.admin), "post", endpoints_url(team.org), body)
    error = assert_error(response, 400)
    assert field in error["fields"], error
    assert stored_endpoints(team.org) == []


def test_malformed_json_is_a_400(team):
    response = session(team.admin).post(endpoints_url(team.org), "{not json", content_type="application/json")
    assert_error(response, 400)


def test_endpoints_are_listed_per_organization_with_cursor_pages(team, other_team):
    mine = [WebhookEndpointFactory(organization=team.org) for _ in range(3)]
    WebhookEndpointFactory(organization=other_team.org)
    client = session(team.admin)

    first = client.get(endpoints_url(team.org), {"page_size": 2}).json()
    second = client.get(first["next"]).json()

    assert set(first) == {"next", "previous", "results"}
    ids = [row["id"] for row in first["results"] + second["results"]]
    assert sorted(ids) == sorted(e.pk for e in mine) and second["next"] is None
    assert all("secret" not in row for row in first["results"])


def test_an_admin_changes_an_endpoint(team):
    endpoint = WebhookEndpointFactory(organization=team.org, event_types=["member.added"])
    response = call(
        session(team.admin),
        "patch",
        endpoints_url(team.org, endpoint.pk),
        {
            "url": URL,
            "description": "New",
            "event_types": [],
        },
    )
    assert response.status_code == 200, response.content
    assert (response.json()["url"], response.json()["event_types"]) == (URL, [])
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description, endpoint.event_types) == (URL, "New", [])
    changes = AuditEvent.objects.for_org(team.org).get(action="webhook_endpoint.updated").details
    assert changes["description"] == {"from": "", "to": "New"}


def test_re_enabling_a_disabled_endpoint_clears_its_failures(team):
    from django.utils import timezone

    now = timezone.now()
    endpoint = WebhookEndpointFactory(
        organization=team.org, active=False, disabled_at=now, disabled_reason="failing", failing_since=now
    )
    response = call(session(team.admin), "patch", endpoints_url(team.org, endpoint.pk), {"active": True})
    assert response.json()["active"] is True
    endpoint.refresh_from_db()
    assert (endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since) == (None, "", None)


@pytest.mark.parametrize(
    ("body", "field"),
    [({"url": "https://169.254.169.254/"}, "url"), ({"event_types": ["nope"]}, "event_types.0"), ({"x": 1}, "x")],
)
def test_an_invalid_change_is_refused_and_nothing_changes(team, body, field):
    endpoint = WebhookEndpointFactory(organization=team.org)
    before = stored_endpoints(team.org)
    error = assert_error(call(session(team.admin), "patch", endpoints_url(team.org, endpoint.pk), body), 400)
    assert field in error["fields"]
    assert stored_endpoints(team.org) == before


def test_put_is_not_offered(team):
    endpoint = WebhookEndpointFactory(organization=team.org)
    assert_error(call(session(team.admin), "put", endpoints_url(team.org, endpoint.pk), {"url": URL}), 405)


def test_an_admin_deletes_an_endpoint_with_its_log(team):
    delivery = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=team.org))
    client = session(team.admin)
    assert client.delete(endpoints_url(team.org, delivery.endpoint_id)).status_code == 204
    assert_error(client.get(endpoints_url(team.org, delivery.endpoint_id)), 404)
    assert not WebhookDelivery.objects.for_org(team.org).exists()
    assert AuditEvent.objects.for_org(team.org).filter(action="webhook_endpoint.deleted").exists()


def test_sending_a_test_event_queues_a_delivery(team):
    endpoint = WebhookEndpointFactory(organization=team.org, event_types=["member.removed"])
    response = call(session(team.admin), "post", endpoints_url(team.org, endpoint.pk, "test"))
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["endpoint"] == endpoint.pk and body["state"] == "pending" and body["attempts"] == 0
    assert body["event"]["type"] == "webhook.test" and body["event"]["id"].startswith("evt_")


def test_a_disabled_endpoint_cannot_be_tested(team):
    endpoint = WebhookEndpointFactory(organization=team.org, active=False)
    assert_error(
        call(session(team.admin), "post", endpoints_url(team.org, endpoint.pk, "test")), 409, "endpoint_disabled"
    )
    assert not WebhookDelivery.objects.for_org(team.org).exists()


def test_rotating_the_secret_returns_a_new_one_once(team):
    endpoint = WebhookEndpointFactory(organization=team.org)
    old = crypto.decrypt(endpoint.secret_encrypted)
    response = call(session(team.admin), "post", endpoints_url(team.org, endpoint.pk, "rotate-secret"))
    assert response.status_code == 200
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != old
    assert body["previous_secret_valid_until"] is not None
    endpoint.refresh_from_db()
    assert crypto.decrypt(endpoint.secret_encrypted) == body["secret"]
    assert crypto.decrypt(endpoint.previous_secret_encrypted) == old


def test_an_idempotent_retry_of_create_returns_the_first_response_without_the_secret(team):
    client = session(team.admin)
    first = call(client, "post", endpoints_url(team.org), {"url": URL}, HTTP_IDEMPOTENCY_KEY="abc-1")
    again = call(client, "post", endpoints_url(team.org), {"url": URL}, HTTP_IDEMPOTENCY_KEY="abc-1")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.json()["secret"] is None
    assert first.json()["secret"].startswith("whsec_")
    assert len(stored_endpoints(team.org)) == 1


def test_endpoint_count_is_limited(team):
    for _ in range(20):
        WebhookEndpointFactory(organization=team.org)
    assert_error(call(session(team.admin), "post", endpoints_url(team.org), {"url": URL}), 409, "limit_exceeded")


# --- deliveries ---------------------------------------------------------------------------


def test_the_delivery_log_filters_by_endpoint_and_state(team, other_team):
    first, second = WebhookEndpointFactory(organization=team.org), WebhookEndpointFactory(organization=team.org)
    failed = WebhookDeliveryFactory(endpoint=first, state=WebhookDelivery.State.FAILED)
    succeeded = WebhookDeliveryFactory(endpoint=first, state=WebhookDelivery.State.SUCCEEDED)
    to_second = WebhookDeliveryFactory(endpoint=second, state=WebhookDelivery.State.FAILED)
    WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=other_team.org))
    client = session(team.admin)

    def ids(**params) -> list[int]:
        return [row["id"] for row in client.get(deliveries_url(team.org), params).json()["results"]]

    assert ids() == [to_second.pk, succeeded.pk, failed.pk]  # newest first
    assert ids(endpoint=first.pk) == [succeeded.pk, failed.pk]
    assert ids(state="failed") == [to_second.pk, failed.pk]
    assert ids(endpoint=first.pk, state="succeeded") == [succeeded.pk]
    assert ids(event=failed.event_id) == [failed.pk]
    assert_error(client.get(deliveries_url(team.org), {"state": "exploded"}), 400)


def test_the_delivery_log_pages_with_a_cursor(team):
    endpoint = WebhookEndpointFactory(organization=team.org)
    made = [WebhookDeliveryFactory(endpoint=endpoint).pk for _ in range(5)]
    client = session(team.admin)
    seen, url = [], deliveries_url(team.org) + "?page_size=2"
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == list(reversed(made))


def test_a_delivery_shows_its_event_and_last_attempt(team):
    delivery = WebhookDeliveryFactory(
        endpoint=WebhookEndpointFactory(organization=team.org),
        response_status=500,
        latency_ms=42,
        response_body="oops",
        error="HTTP 500.",
        attempts=3,
    )
    body = session(team.admin).get(deliveries_url(team.org, delivery.pk)).json()
    assert body["event"] == {
        "id": delivery.event_id,
        "type": "member.added",
        "created": int(delivery.event.created_at.timestamp()),
        "data": {"user": {"email": "ana@example.com"}},
    }
    assert (body["response_status"], body["latency_ms"], body["response_body"], body["attempts"]) == (
        500,
        42,
        "oops",
        3,
    )
    assert body["endpoint"] == delivery.endpoint_id and body["state"] == "failed"


def test_redelivery_queues_a_new_delivery_of_the_same_event(team):
    delivery = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=team.org))
    response = call(session(team.admin), "post", deliveries_url(team.org, delivery.pk, "redeliver"))
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["id"] != delivery.pk and body["event"]["id"] == delivery.event_id and body["state"] == "pending"


def test_redelivery_to_a_disabled_endpoint_is_a_conflict(team):
    delivery = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=team.org, active=False))
    response = call(session(team.admin), "post", deliveries_url(team.org, delivery.pk, "redeliver"))
    assert_error(response, 409, "endpoint_disabled")
    assert WebhookDelivery.objects.for_org(team.org).count() == 1


# --- event types --------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_every_member_can_list_the_event_types(team, role):
    response = session(team.user(role)).get(f"/api/v1/orgs/{team.org.slug}/webhook-event-types/")
    assert response.status_code == 200
    names = [row["name"] for row in response.json()]
    assert names == ["webhook.test", "member.added", "member.removed", "organization.updated"]
    assert all(row["description"] and isinstance(row["example"], dict) for row in response.json())
    added = next(row for row in response.json() if row["name"] == "member.added")
    assert added["example"]["member"]["role"] == "trader"


# --- who may do what ----------------------------------------------------------------------


def operations(team) -> list[tuple[str, str, dict | None]]:
    """(method, path, body) for every webhook operation on fresh objects of ``team``."""
    endpoint = WebhookEndpointFactory(organization=team.org)
    delivery = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=team.org))
    return [
        ("get", endpoints_url(team.org), None),
        ("post", endpoints_url(team.org), {"url": URL}),
        ("get", endpoints_url(team.org, endpoint.pk), None),
        ("patch", endpoints_url(team.org, endpoint.pk), {"description": "x"}),
        ("post", endpoints_url(team.org, endpoint.pk, "test"), None),
        ("post", endpoints_url(team.org, endpoint.pk, "rotate-secret"), None),
        ("get", deliveries_url(team.org), None),
        ("get", deliveries_url(team.org, delivery.pk), None),
        ("post", deliveries_url(team.org, delivery.pk, "redeliver"), None),
        ("delete", endpoints_url(team.org, endpoint.pk), None),
    ]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER])
def test_viewers_and_traders_get_403(team, role):
    client = session(team.user(role))
    for method, path, body in operations(team):
        assert_error(call(client, method, path, body), 403, "role_too_low")
    assert stored_endpoints(team.org) == list(WebhookEndpoint.objects.for_org(team.org).order_by("pk").values())


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_admins_and_owners_get_through(team, role):
    client = session(team.user(role))
    for method, path, body in operations(team):
        response = call(client, method, path, body)
        assert response.status_code in (200, 201, 202, 204), (method, path, response.content)


# Flat scopes, intersected with the owner's role: reading needs "read", changing needs "admin".
@pytest.mark.parametrize(
    ("scopes", "may_read", "may_write"),
    [(["read"], True, False), (["trade"], False, False), (["admin"], False, True), (["read", "admin"], True, True)],
)
def test_a_key_may_do_what_its_scopes_allow(team, scopes, may_read, may_write):
    client = key_client(issue_key(team.org, team.admin, scopes=scopes))
    for method, path, body in operations(team):
        allowed = may_read if method == "get" else may_write
        response = call(client, method, path, body)
        if allowed:
            assert response.status_code in (200, 201, 202, 204), (scopes, method, path, response.content)
        else:
            assert_error(response, 403, "scope_missing")


def test_a_viewers_read_key_cannot_read_the_webhook_log(team):
    client = key_client(issue_key(team.org, team.viewer, scopes=["read"]))
    assert_error(client.get(deliveries_url(team.org)), 403, "role_too_low")


def test_a_key_records_the_actor_in_the_audit_log(team):
    client = key_client(issue_key(team.org, team.admin, scopes=["admin"]))
    assert call(client, "post", endpoints_url(team.org), {"url": URL}).status_code == 201
    assert AuditEvent.objects.for_org(team.org).get(action="webhook_endpoint.created").actor_user_id == team.admin.pk


@pytest.mark.parametrize("auth", ["session", "key"])
def test_another_organizations_ids_are_404(team, other_team, auth):
    client = session(team.owner) if auth == "session" else key_client(issue_key(team.org, team.owner))
    foreign_endpoint = WebhookEndpointFactory(organization=other_team.org)
    foreign_delivery = WebhookDeliveryFactory(endpoint=foreign_endpoint)
    before = stored_endpoints(other_team.org)
    for method, path, body in [
        ("get", endpoints_url(team.org, foreign_endpoint.pk), None),
        ("patch", endpoints_url(team.org, foreign_endpoint.pk), {"description": "mine now"}),
        ("delete", endpoints_url(team.org, foreign_endpoint.pk), None),
        ("post", endpoints_url(team.org, foreign_endpoint.pk, "test"), None),
        ("post", endpoints_url(team.org, foreign_endpoint.pk, "rotate-secret"), None),
        ("get", deliveries_url(team.org, foreign_delivery.pk), None),
        ("post", deliveries_url(team.org, foreign_delivery.pk, "redeliver"), None),
    ]:
        assert_error(call(client, method, path, body), 404, "not_found")
    assert client.get(deliveries_url(team.org), {"endpoint": foreign_endpoint.pk}).json()["results"] == []
    assert stored_endpoints(other_team.org) == before
    assert WebhookDelivery.objects.for_org(other_team.org).count() == 1


def test_an_outsider_and_a_foreign_key_get_404(team, other_team, outsider):
    assert_error(session(outsider).get(endpoints_url(team.org)), 404, "not_found")
    foreign_key = key_client(issue_key(other_team.org, other_team.owner))
    assert_error(foreign_key.get(endpoints_url(team.org)), 404, "not_found")


def test_anonymous_requests_get_401(team):
    assert_error(Client().get(endpoints_url(team.org)), 401)
    assert_error(call(Client(), "post", endpoints_url(team.org), {"url": URL}), 401)


def test_event_data_is_shown_as_stored(team):
    event = WebhookEventFactory(organization=team.org, data={"amount": "12.50", "nested": {"ok": True}})
    delivery = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=team.org), event=event)
    body = session(team.admin).get(deliveries_url(team.org, delivery.pk)).json()
    assert body["event"]["data"] == {"amount": "12.50", "nested": {"ok": True}}
