"""Writes for outbound webhooks: endpoints (with their signing secrets), queueing the events bus's
events for them (``webhook_event_queue``, a subscriber), test events and redelivery. The rest of the
application publishes events (``asterweb.events.event_publish``) and never calls webhooks itself."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from accounts.limits import Limit, limit_check
from accounts.models import Organization, User
from accounts.services.audit import audit_record
from accounts.webhooks import ssrf
from accounts.webhooks.events import TEST_EVENT, unknown_event_types, webhook_event_types
from accounts.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent, url_host
from asterweb import crypto
from asterweb.errors import ApplicationError, ConflictError, NotFoundError
from asterweb.events import Event

log = structlog.get_logger(__name__)

SECRET_PREFIX = "whsec_"
MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 200
ROTATION_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class IssuedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown to the person once, stored only encrypted


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _clean_url(url: str) -> str:
    url = url.strip()
    if not url:
        raise ApplicationError("Enter the URL to send events to.", fields={"url": ["This field is required."]})
    if len(url) > MAX_URL_LENGTH:
        raise ApplicationError(
            f"The URL is longer than {MAX_URL_LENGTH} characters.", fields={"url": ["This URL is too long."]}
        )
    ssrf.destination_resolve(url)
    return url


def _clean_description(description: str) -> str:
    description = description.strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        message = f"Keep the description under {MAX_DESCRIPTION_LENGTH} characters."
        raise ApplicationError(message, fields={"description": [message]})
    return description


def _clean_event_types(event_types: list[str]) -> list[str]:
    unknown = unknown_event_types(event_types)
    if unknown:
        message = f"Unknown event type{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}."
        raise ApplicationError(message, fields={"event_types": [message]})
    return [name for name in webhook_event_types() if name in event_types]


def _own(organization: Organization, endpoint: WebhookEndpoint) -> None:
    if endpoint.organization_id != organization.pk:
        raise NotFoundError("No such webhook endpoint.")


def _describe(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """What the audit log keeps about an endpoint: the host, never the URL (it may hold a secret)."""
    return {"host": endpoint.host, "event_types": endpoint.event_types or ["*"], "active": endpoint.active}


def webhook_endpoint_create(
    *,
    organization: Organization,
    actor: User,
    url: str,
    description: str = "",
    event_types: list[str] | None = None,
    active: bool = True,
) -> IssuedEndpoint:
    """Register an endpoint; the returned signing secret is shown once. ``event_types`` empty: all."""
    url = _clean_url(url)  # resolves the host: outside the transaction
    description = _clean_description(description)
    event_types = _clean_event_types(event_types or [])
    secret = _new_secret()
    with transaction.atomic():
        limit_check(organization=organization, limit=Limit.WEBHOOK_ENDPOINTS)
        endpoint = WebhookEndpoint.objects.create(
            organization=organization,
            url=url,
            description=description,
            event_types=event_types,
            active=active,
            secret_encrypted=crypto.encrypt(secret),
        )
        audit_record(
            action="webhook_endpoint.created",
            organization=organization,
            actor=actor,
            target=endpoint,
            details=_describe(endpoint),
        )
    return IssuedEndpoint(endpoint=endpoint, secret=secret)


def webhook_endpoint_url_changes(*, endpoint: WebhookEndpoint, url: str | None) -> bool:
    """Whether an update with ``url`` points the endpoint (and redeliveries of its past events) elsewhere."""
    return url is not None and url.strip() != endpoint.url


def webhook_endpoint_update(
    *,
    organization: Organization,
    actor: User,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    description: str | None = None,
    event_types: list[str] | None = None,
    active: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given (None: unchanged). Re-enabling an endpoint clears its failure record."""
    _own(organization, endpoint)
    changes: dict[str, Any] = {}
    new_values: dict[str, Any] = {}
    if webhook_endpoint_url_changes(endpoint=endpoint, url=url):
        new_values["url"] = _clean_url(url)
    if description is not None:
        new_values["description"] = _clean_description(description)
    if event_types is not None:
        new_values["event_types"] = _clean_event_types(event_types)
    if active is not None:
        new_values["active"] = active
    with transaction.atomic():
        # FOR NO KEY UPDATE: a publisher holding the organization's event counter may be queueing a
        # delivery to this endpoint (FOR KEY SHARE); FOR UPDATE would wait for it while it waits
        # for our audit row's turn at the counter (a deadlock).
        endpoint = WebhookEndpoint.objects.for_org(organization).select_for_update(no_key=True).get(pk=endpoint.pk)
        for field, value in new_values.items():
            if getattr(endpoint, field) != value:
                if field == "url":  # the audit log keeps hosts, never URLs
                    changes["host"] = {"from": endpoint.host, "to": url_host(value)}
                else:
                    changes[field] = {"from": getattr(endpoint, field), "to": value}
                setattr(endpoint, field, value)
        if not changes:
            return endpoint
        if changes.get("active", {}).get("to") is True:
            endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since = None, "", None
        endpoint.updated_at = timezone.now()
        endpoint.save()
        audit_record(
            action="webhook_endpoint.updated",
            organization=organization,
            actor=actor,
            target=endpoint,
            details=changes,
        )
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, organization: Organization, actor: User, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint with its delivery log; nothing more is sent to it."""
    _own(organization, endpoint)
    # The row first, then the audit (which takes the organization's event counter): the order
    # every other endpoint write uses, so two of them cannot wait for each other.
    WebhookEndpoint.objects.for_org(organization).filter(pk=endpoint.pk).delete()
    audit_record(
        action="webhook_endpoint.deleted",
        organization=organization,
        actor=actor,
        target=endpoint,
        details=_describe(endpoint),
    )


@transaction.atomic
def webhook_endpoint_rotate_secret(
    *, organization: Organization, actor: User, endpoint: WebhookEndpoint
) -> IssuedEndpoint:
    """A new signing secret, shown once. For 24 hours requests carry a signature with the
    previous secret too, so a receiver can switch over without dropping events."""
    _own(organization, endpoint)
    # NO KEY: see webhook_endpoint_update (deliveries queued by a publisher must not wait for us).
    endpoint = WebhookEndpoint.objects.for_org(organization).select_for_update(no_key=True).get(pk=endpoint.pk)
    secret = _new_secret()
    now = timezone.now()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = now + ROTATION_GRACE
    endpoint.secret_encrypted = crypto.encrypt(secret)
    endpoint.updated_at = now
    endpoint.save()
    audit_record(
        action="webhook_endpoint.secret_rotated",
        organization=organization,
        actor=actor,
        target=endpoint,
        details={"previous_valid_until": endpoint.previous_secret_expires_at.isoformat()},
    )
    return IssuedEndpoint(endpoint=endpoint, secret=secret)


def _enqueue_sweep() -> None:
    from accounts.webhooks.tasks import webhooks_sweep

    try:
        webhooks_sweep.delay()
    except BrokerError:  # the beat sweep picks the deliveries up within seconds anyway
        log.warning("webhook_sweep_enqueue_failed", exc_info=True)


def webhook_event_queue(event: Event) -> None:
    """Subscriber of the events bus, inside the publishing transaction (so a queued delivery stands
    or falls with the action): one delivery of a ``webhook`` type's event to each active endpoint
    subscribed to it. Workers send them after the transaction commits."""
    if not event.type.webhook:
        return
    organization = event.organization
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.for_org(organization).filter(active=True)
        if endpoint.subscribes_to(event.type.name)
    ]
    if not endpoints:
        return
    webhook_event = WebhookEvent.objects.create(
        id=event.id, organization=organization, type=event.type.name, data=event.data, created_at=event.created_at
    )
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(organization=organization, event=webhook_event, endpoint=endpoint) for endpoint in endpoints
    )
    transaction.on_commit(_enqueue_sweep)


def _deliver_now(*, organization: Organization, event: WebhookEvent, endpoint: WebhookEndpoint) -> WebhookDelivery:
    if not endpoint.active:
        raise ConflictError("This endpoint is disabled: enable it first.", code="endpoint_disabled")
    delivery = WebhookDelivery.objects.create(organization=organization, event=event, endpoint=endpoint)
    transaction.on_commit(_enqueue_sweep)
    return delivery


@transaction.atomic
def webhook_send_test_event(*, organization: Organization, actor: User, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a ``webhook.test`` event to this one endpoint, whatever it subscribes to."""
    _own(organization, endpoint)
    event = WebhookEvent.objects.create(
        organization=organization,
        type=TEST_EVENT,
        data={"message": "A test event from AsterAI.", "endpoint_id": endpoint.pk, "requested_by": actor.email},
    )
    delivery = _deliver_now(organization=organization, event=event, endpoint=endpoint)
    audit_record(
        action="webhook_endpoint.test_sent",
        organization=organization,
        actor=actor,
        target=endpoint,
        details={"event_id": event.id},
    )
    return delivery


@transaction.atomic
def webhook_delivery_redeliver(
    *, organization: Organization, actor: User, delivery: WebhookDelivery
) -> WebhookDelivery:
    """Send a delivery's event to its endpoint again, as a new delivery with its own log and retries.
    The event id is unchanged, so a receiver that already handled it can tell."""
    if delivery.organization_id != organization.pk:
        raise NotFoundError("No such webhook delivery.")
    redelivery = _deliver_now(organization=organization, event=delivery.event, endpoint=delivery.endpoint)
    audit_record(
        action="webhook_delivery.redelivered",
        organization=organization,
        actor=actor,
        target=delivery.endpoint,
        details={"event_id": delivery.event_id, "delivery_id": delivery.pk, "redelivery_id": redelivery.pk},
    )
    return redelivery


def webhook_events_purge(*, older_than: timedelta) -> int:
    """Delete events (with their deliveries) older than ``older_than``, across organizations (a system job)."""
    cutoff = timezone.now() - older_than
    deleted, _ = WebhookEvent.all_objects.filter(created_at__lt=cutoff).delete()
    return deleted


def webhook_secrets_reencrypt() -> int:
    """Re-encrypt every endpoint's signing secrets with the newest key (after adding a key to
    FIELD_ENCRYPTION_KEYS). A system job across organizations."""
    count = 0
    for endpoint_id in WebhookEndpoint.all_objects.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            endpoint = WebhookEndpoint.all_objects.select_for_update().get(pk=endpoint_id)
            endpoint.secret_encrypted = crypto.reencrypt(endpoint.secret_encrypted)
            if endpoint.previous_secret_encrypted:
                endpoint.previous_secret_encrypted = crypto.reencrypt(endpoint.previous_secret_encrypted)
            endpoint.save(update_fields=["secret_encrypted", "previous_secret_encrypted"])
            count += 1
    return count
