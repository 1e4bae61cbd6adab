"""The event types of accounts (organizations, members, the audit log, webhooks), with the shape of
their ``data``, declared on the events bus (asterweb/events.py) when AccountsConfig.ready imports
this module. ``webhook=True`` types are the ones an endpoint can subscribe to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from accounts.roles import Role
from asterweb.events import EventType, event_types_register

if TYPE_CHECKING:
    from accounts.models import AuditEvent, Membership, Organization

_MEMBER = {"id": 12, "user_id": 34, "email": "ana@example.com", "role": "trader"}
_ORGANIZATION = {"slug": "acme", "name": "Acme Capital", "require_2fa": True}

# Sent to one endpoint on request, whatever it subscribes to (never published on the bus).
TEST_EVENT = "webhook.test"

event_types_register(
    EventType(
        TEST_EVENT,
        "A test event, sent on request from the webhook pages or the API.",
        {"message": "A test event from AsterAI.", "endpoint_id": 7, "requested_by": "ana@example.com"},
        webhook=True,
    ),
    EventType(
        "member.added",
        "Someone joined the organization (accepted an invitation).",
        {"member": _MEMBER},
        webhook=True,
    ),
    EventType(
        "member.removed",
        "A member was removed from the organization, or left it.",
        {"member": _MEMBER, "reason": "removed"},  # "removed" or "left"
        webhook=True,
    ),
    EventType(
        "organization.updated",
        "The organization's name or settings changed.",
        {"organization": _ORGANIZATION, "changes": {"name": {"from": "Acme", "to": "Acme Capital"}}},
        webhook=True,
    ),
    EventType(
        "organization.created",
        "The organization was created (other apps set up what every organization has).",
        {"organization": {**_ORGANIZATION, "require_2fa": False}},
    ),
    EventType(
        "audit.recorded",
        "An entry was added to the audit log.",
        {
            "id": 81,
            "action": "api_key.created",
            "actor": "ana@example.com",
            "target": "grafana",
            "created_at": "2026-01-05T09:30:00+00:00",
        },
        min_role=Role.ADMIN,
    ),
)


# --- the data of each type, built in one place so every publisher sends the documented shape ---


def member_data(membership: Membership, *, reason: str | None = None) -> dict[str, Any]:
    """``data`` of member.added, and of member.removed with ``reason`` "removed" or "left"."""
    data: dict[str, Any] = {
        "member": {
            "id": membership.pk,
            "user_id": membership.user_id,
            "email": membership.user.email,
            "role": membership.role,
        }
    }
    if reason is not None:
        data["reason"] = reason
    return data


def organization_data(organization: Organization, *, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """``data`` of organization.created, and of organization.updated with ``{field: {"from", "to"}}``."""
    data: dict[str, Any] = {
        "organization": {
            "slug": organization.slug,
            "name": organization.name,
            "require_2fa": organization.require_2fa,
        }
    }
    if changes is not None:
        data["changes"] = changes
    return data


def audit_data(event: AuditEvent) -> dict[str, Any]:
    """``data`` of audit.recorded: what the audit log page shows of a new entry."""
    return {
        "id": event.pk,
        "action": event.action,
        "actor": event.actor_label,
        "target": event.target_label,
        "created_at": event.created_at.isoformat(),
    }
