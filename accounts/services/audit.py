"""The one way to write the audit log."""

from __future__ import annotations

from typing import Any

import structlog
from django.db import models

from accounts.events import audit_data
from accounts.models import AuditEvent, Membership, Organization, User
from accounts.request_context import current_api_key_id, current_request_meta
from asterweb.events import event_publish
from asterweb.logging import REDACTED, redact_secrets

log = structlog.get_logger(__name__)


def _without_secrets(details: dict[str, Any]) -> dict[str, Any]:
    cleaned = redact_secrets(None, "", dict(details))
    return {key: value for key, value in cleaned.items() if value != REDACTED}


def _is_support(actor: User | None, organization: Organization | None) -> bool:
    """Staff acting in an organization they are no member of (through the admin): support."""
    if actor is None or not actor.is_staff or organization is None or organization.pk is None:
        return False
    return not Membership.objects.for_org(organization).filter(user=actor).exists()


def audit_record(
    *,
    action: str,
    organization: Organization | None = None,
    actor: User | None = None,
    actor_api_key_id: int | None = None,
    actor_label: str = "",
    target: models.Model | None = None,
    target_label: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event, in the caller's transaction (an action that commits has its audit row).
    IP, user agent and the API key in use come from the current request, if any; secret-named keys
    in ``details`` are dropped, never stored. Open audit views hear of it (``audit.recorded``)."""
    meta = current_request_meta()
    event = AuditEvent.objects.create(
        organization=organization,
        actor_user=actor if actor is not None and actor.pk else None,
        actor_api_key_id=actor_api_key_id if actor_api_key_id is not None else current_api_key_id(),
        actor_label=actor_label or (actor.email if actor is not None else "system"),
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=(target_label or (str(target) if target is not None else ""))[:254],
        ip=meta.ip if meta else None,
        user_agent=meta.user_agent if meta else "",
        by_support=_is_support(actor, organization),
        details=_without_secrets(details or {}),
    )
    log.info("audit", action=action, audit_event_id=event.pk)
    if organization is not None:
        event_publish(organization=organization, type="audit.recorded", data=audit_data(event))
    return event
