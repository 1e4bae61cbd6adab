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
