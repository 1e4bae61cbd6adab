"""Reads for outbound webhooks."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Organization
from accounts.webhooks.models import WebhookDelivery, WebhookEndpoint


def webhook_endpoints_for_org(*, organization: Organization) -> QuerySet[WebhookEndpoint]:
    """The organization's endpoints, oldest first."""
    return WebhookEndpoint.objects.for_org(organization).order_by("created_at", "pk")


def webhook_deliveries_for_org(
    *, organization: Organization, endpoint_id: int | None = None, state: str = ""
) -> QuerySet[WebhookDelivery]:
    """The organization's delivery log, newest first, optionally for one endpoint and in one state."""
    deliveries = WebhookDelivery.objects.for_org(organization).select_related("event", "endpoint")
    if endpoint_id is not None:
        deliveries = deliveries.filter(endpoint_id=endpoint_id)
    if state:
        deliveries = deliveries.filter(state=state)
    return deliveries.order_by("-created_at", "-pk")
