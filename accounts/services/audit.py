"""The one way to write the audit log."""

from __future__ import annotations

from typing import Any

import structlog
from django.db import models, transaction
from redis.exceptions import RedisError

from accounts.models import AuditEvent, Membership, Organization, User
from accounts.realtime import organization_broadcast
from accounts.request_context import current_api_key_id, current_request_meta
from accounts.roles import Role
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
    """Append one event. IP, user agent and the API key in use come from the current request,
    if any; secret-named keys in ``details`` are dropped, never stored."""
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
        transaction.on_commit(lambda: _broadcast(event))
    return event


def _broadcast(event: AuditEvent) -> None:
    """Live-update open audit views. A Redis outage must not fail an action that already committed."""
    try:
        organization_broadcast(
            organization=event.organization,
            event_type="audit.recorded",
            data={
                "id": event.pk,
                "action": event.action,
                "actor": event.actor_label,
                "target": event.target_label,
                "created_at": event.created_at.isoformat(),
            },
            min_role=Role.ADMIN,
        )
    except (RedisError, OSError):
        log.warning("audit_broadcast_failed", audit_event_id=event.pk, exc_info=True)
