"""The webhook pages: add an endpoint (its secret shown once), edit, delete, send a test event,
rotate the secret, the delivery log with redelivery; and the public documentation page."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.tests.factories import PASSWORD
from accounts.tests.webhook_factories import WebhookDeliveryFactory, WebhookEndpointFactory
from accounts.webhooks.docs import VERIFY_SNIPPET
from accounts.webhooks.models import WebhookDelivery, WebhookEndpoint
from asterweb import crypto

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hooks/asterai"


def url(team, name: str, *args) -> str:
    return reverse(name, args=[team.org.slug, *args])


def reauthenticated(client_for, user) -> Client:
    """Signed in and just confirmed the password: adding an endpoint and rotating its secret need it."""
    client = client_for(user)
    assert client.post(reverse("account_reauthenticate"), {"password": PASSWORD}).status_code == 302
    return client


def secret_on(page: str) -> str | None:
    match = re.search(r"whsec_[A-Za-z0-9_-]+", page)
    return match.group(0) if match else None


def test_adding_an_endpoint_shows_its_secret_once(team, client_for):
    client = reauthenticated(client_for, team.admin)
    form = {"url": URL, "description": "Ops", "event_types": ["member.added"]}
    response = client.post(url(team, "webhook_create"), form)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = secret_on(response.content.decode())
    endpoint = WebhookEndpoint.objects.for_org(team.org).get()
    assert secret is not None and crypto.decrypt(endpoint.secret_encrypted) == secret
    assert (endpoint.url, endpoint.description, endpoint.event_types) == (URL, "Ops", ["member.added"])

    for page in ("webhook_list", "webhook_deliveries"):
        assert secret not in client.get(url(team, page)).content.decode()
    assert secret not in client.get(url(team, "webhook_detail", endpoint.pk)).content.decode()
    assert secret not in str(AuditEvent.objects.for_org(team.org).values_list("details", flat=True))


def test_a_private_url_gets_a_clear_form_error(team, client_for, settings):
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []
    client = reauthenticated(client_for, team.admin)
    response = client.post(url(team, "webhook_create"), {"url": "http://169.254.169.254/latest/"})
    assert response.status_code == 200
    assert "is a private, loopback or otherwise reserved address" in response.content.decode()
    assert not WebhookEndpoint.objects.for_org(team.org).exists()


def test_adding_an_endpoint_or_rotating_a_secret_first_confirms_the_password(team, client_for):
    endpoint = WebhookEndpointFactory(organization=team.org)
    client = client_for(team.admin)  # signed in, but not just now
    for path in (url(team, "webhook_create"), url(team, "webhook_rotate_secret", endpoint.pk)):
        response = client.post(path, {"url": URL})
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_reauthenticate"))
    assert list(WebhookEndpoint.objects.for_org(team.org)) == [endpoint]
    endpoint_before = endpoint.secret_encrypted
    endpoint.refresh_from_db()
    assert endpoint.secret_encrypted == endpoint_before
    # Back from confirming, a GET of the rotate URL leads to the endpoint page and its button.
    assert client.get(url(team, "webhook_rotate_secret", endpoint.pk))["Location"] == url(
        team, "webhook_detail", endpoint.pk
    )


def test_editing_an_endpoint(team, client_for):
    endpoint = WebhookEndpointFactory(organization=team.org)
    client = reauthenticated(client_for, team.admin)  # a new URL needs a recent password confirmation
    page = client.get(url(team, "webhook_detail", endpoint.pk)).content.decode()
    assert endpoint.url in page and "whsec_" not in page

    form = {"url": URL, "description": "Edited", "active": ""}
    response = client.post(url(team, "webhook_detail", endpoint.pk), form)

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description, endpoint.active) == (URL, "Edited", False)


def test_deleting_an_endpoint_asks_first(team, client_for):
    endpoint = WebhookEndpointFactory(organization=team.org)
    client = client_for(team.admin)
    assert "Delete this endpoint?" in client.get(url(team, "webhook_delete", endpoint.pk)).content.decode()
    assert client.post(url(team, "webhook_delete", endpoint.pk)).status_code == 302
    assert not WebhookEndpoint.objects.for_org(team.org).exists()


def test_sending_a_test_event_from_the_page(team, client_for):
    endpoint = WebhookEndpointFactory(organization=team.org)
    response = client_for(team.admin).post(url(team, "webhook_test", endpoint.pk))
    assert response.status_code == 302
    assert response["Location"] == f"{url(team, 'webhook_deliveries')}?endpoint={endpoint.pk}"
    assert WebhookDelivery.objects.for_org(team.org).get().event.type == "webhook.test"


def test_rotating_the_secret_from_the_page_shows_the_new_one(team, client_for):
    endpoint = WebhookEndpointFactory(organization=team.org)
    response = reauthenticated(client_for, team.admin).post(url(team, "webhook_rotate_secret", endpoint.pk))
    endpoint.refresh_from_db()
    assert secret_on(response.content.decode()) == crypto.decrypt(endpoint.secret_encrypted)
    assert "keeps signing alongside this one" in response.content.decode()


def test_the_delivery_log_shows_status_code_latency_attempts_and_body(team, client_for):
    delivery = WebhookDeliveryFactory(
        endpoint=WebhookEndpointFactory(organization=team.org),
        response_status=503,
        latency_ms=321,
        attempts=4,
        response_body="upstream unavailable",
    )
    client = client_for(team.admin)
    page = client.get(url(team, "webhook_deliveries")).content.decode()
    attempts_and_latency = '4<br><small class="muted">321 ms</small>'
    for text in ("503", attempts_and_latency, "upstream unavailable", delivery.event_id, "Redeliver"):
        assert text in page, text
    detail = client.get(url(team, "webhook_delivery_detail", delivery.pk)).content.decode()
    assert "upstream unavailable" in detail and delivery.event_id in detail

    filtered = client.get(url(team, "webhook_deliveries"), {"state": "succeeded"}).content.decode()
    assert delivery.event_id not in filtered


def test_redelivering_from_the_log(team, client_for):
    delivery = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=team.org))
    assert client_for(team.admin).post(url(team, "webhook_redeliver", delivery.pk)).status_code == 302
    assert WebhookDelivery.objects.for_org(team.org).filter(event=delivery.event).count() == 2


def test_redelivering_to_a_disabled_endpoint_explains_why_not(team, client_for):
    delivery = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=team.org, active=False))
    response = client_for(team.admin).post(url(team, "webhook_redeliver", delivery.pk), follow=True)
    assert "This endpoint is disabled: enable it first." in response.content.decode()
    assert WebhookDelivery.objects.for_org(team.org).count() == 1


def test_admins_see_the_webhooks_link_and_others_do_not(team, client_for):
    link = url(team, "webhook_list")
    assert link in client_for(team.admin).get(url(team, "org_dashboard")).content.decode()
    assert link not in client_for(team.trader).get(url(team, "org_dashboard")).content.decode()


def test_the_documentation_page_is_public_and_carries_the_verification_recipe():
    response = Client().get("/docs/webhooks/")
    assert response.status_code == 200
    page = response.content.decode()
    for text in ("AsterAI-Signature", "AsterAI-Event-Id", "24 hours", "3 days", "member.added", "redirect"):
        assert text in page, text
    # The snippet on the page is the one the delivery tests execute against real requests.
    assert "def verify_asterai_signature(payload: bytes, header: str, secret: str," in page
    assert "abs(time.time() - timestamp) &gt; tolerance" in page
    assert VERIFY_SNIPPET.count("\n") > 15


def test_the_webhook_pages_link_to_the_documentation(team, client_for):
    page = client_for(team.admin).get(url(team, "webhook_list")).content.decode()
    assert reverse("webhooks_docs") in page
