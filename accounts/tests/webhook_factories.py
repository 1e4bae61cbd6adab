"""factory_boy factories for outbound webhooks. Endpoints are made directly (no DNS lookup,
no SSRF check): tests that exercise those go through the service."""

from __future__ import annotations

import factory

from accounts.tests.factories import OrganizationFactory
from accounts.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from asterweb import crypto

ENDPOINT_SECRET = "whsec_factory-made-secret-for-tests"


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEndpoint

    organization = factory.SubFactory(OrganizationFactory)
    url = factory.Sequence(lambda n: f"https://hooks{n}.example.com/asterai")
    secret_encrypted = factory.LazyFunction(lambda: crypto.encrypt(ENDPOINT_SECRET))


class WebhookEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEvent

    organization = factory.SubFactory(OrganizationFactory)
    type = "member.added"
    data = factory.LazyFunction(lambda: {"user": {"email": "ana@example.com"}})


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookDelivery

    endpoint = factory.SubFactory(WebhookEndpointFactory)
    organization = factory.SelfAttribute("endpoint.organization")
    event = factory.SubFactory(WebhookEventFactory, organization=factory.SelfAttribute("..organization"))
    state = WebhookDelivery.State.FAILED
    attempts = 1
    next_attempt_at = None


# --- for the API URL walker (accounts/tests/test_api_url_walker.py) ------------------------
# One factory per webhook API URL name, in the walker's (team, actor) -> kwargs form, and a
# valid body for the operations that need one.


def _nothing(team, actor) -> dict:
    return {}


def _endpoint_of(team, actor) -> dict:
    return {"pk": WebhookEndpointFactory(organization=team.org).pk}


def _delivery_of(team, actor) -> dict:
    return {"pk": WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=team.org)).pk}


API_URL_FACTORIES = {
    "webhook-endpoint-list": _nothing,
    "webhook-endpoint-detail": _endpoint_of,
    "webhook-endpoint-test": _endpoint_of,
    "webhook-endpoint-rotate-secret": _endpoint_of,
    "webhook-delivery-list": _nothing,
    "webhook-delivery-detail": _delivery_of,
    "webhook-delivery-redeliver": _delivery_of,
    "webhook-event-type-list": _nothing,
}

API_VALID_BODIES = {
    # Loopback is allow-listed in the test settings, so no DNS lookup is needed.
    ("webhook-endpoint-list", "post"): lambda: {"url": "http://127.0.0.1:9/hooks/asterai"},
    ("webhook-endpoint-detail", "patch"): lambda: {"description": "Changed by the walker"},
}
