"""Webhook endpoints (where an organization wants events), events (what happened) and
deliveries (one event to one endpoint, with its retry state and the last attempt's outcome)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib.postgres.fields import ArrayField
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

# accounts.models imports this module last, so these two exist by then. A webhook event has the id
# of the bus event it carries; the 0006 migration names new_event_id here.
from accounts.models import new_event_id
from accounts.tenancy import TenantModel


def url_host(url: str) -> str:
    """The host (and a non-default port) of a URL: what may be recorded about a webhook URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    host = parts.hostname or ""
    return f"{host}:{port}" if port else host


class WebhookEndpoint(TenantModel):
    """A URL that receives the organization's events, signed with the endpoint's secret.

    The secret is encrypted at rest (``asterweb.crypto``) rather than hashed: signing needs it.
    During a rotation the previous secret also signs until ``previous_secret_expires_at``.
    """

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField("URL", max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = ArrayField(
        models.CharField(max_length=64), default=list, blank=True, help_text="Empty: every event type."
    )
    active = models.BooleanField(default=True)
    secret_encrypted = models.TextField(editable=False)
    previous_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    # Start of the current run of failed attempts; cleared by any success.
    failing_since = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        indexes = [models.Index(fields=["organization", "created_at"], name="webhook_endpoint_org_time")]

    def __str__(self) -> str:
        # The host only: a URL may carry a secret (Slack-style), and this string lands in audit
        # records (target labels, admin change entries) that are kept forever.
        return f"{self.host} (#{self.pk})"

    @property
    def host(self) -> str:
        return url_host(self.url)

    def subscribes_to(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookEvent(TenantModel):
    """Something that happened in an organization, as sent to its endpoints."""

    id = models.CharField(primary_key=True, max_length=32, default=new_event_id, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=64)
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantModel.Meta):
        indexes = [models.Index(fields=["created_at"], name="webhook_event_time")]

    def __str__(self) -> str:
        return f"{self.id} {self.type}"


class WebhookDelivery(TenantModel):
    """One event on its way to one endpoint. ``next_attempt_at`` is when a worker may claim it
    (a claim pushes it out by a lease, so no two workers send the same attempt)."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The start of the last response body (2 KB at most).")
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantModel.Meta):
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The sweep's claim: due pending deliveries, oldest due first.
            models.Index(fields=["next_attempt_at"], name="webhook_delivery_due", condition=models.Q(state="pending")),
            models.Index(fields=["organization", "-created_at"], name="webhook_delivery_org_time"),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} ({self.state})"
