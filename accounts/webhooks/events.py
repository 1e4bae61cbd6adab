"""The event types an endpoint can subscribe to, with the shape of their ``data``.
Emitting a type not listed here is a bug (``webhook_emit`` raises)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accounts.models import Membership, Organization

_MEMBER = {"id": 12, "user_id": 34, "email": "ana@example.com", "role": "trader"}


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    example: dict[str, Any] = field(default_factory=dict)  # what ``data`` looks like


_TYPES = [
    EventType(
        "webhook.test",
        "A test event, sent on request from the webhook pages or the API.",
        {"message": "A test event from AsterAI.", "endpoint_id": 7, "requested_by": "ana@example.com"},
    ),
    EventType(
        "member.added",
        "Someone joined the organization (accepted an invitation).",
        {"member": _MEMBER},
    ),
    EventType(
        "member.removed",
        "A member was removed from the organization, or left it.",
        {"member": _MEMBER, "reason": "removed"},  # "removed" or "left"
    ),
    EventType(
        "organization.updated",
        "The organization's name or settings changed.",
        {
            "organization": {"slug": "acme", "name": "Acme Capital", "require_2fa": True},
            "changes": {"name": {"from": "Acme", "to": "Acme Capital"}},
        },
    ),
]

EVENT_TYPES: dict[str, EventType] = {event_type.name: event_type for event_type in _TYPES}

# Sent to one endpoint on request, whatever it subscribes to.
TEST_EVENT = "webhook.test"


def event_type_choices() -> list[tuple[str, str]]:
    """(name, description) pairs, in registry order."""
    return [(t.name, t.description) for t in _TYPES]


def unknown_event_types(names: list[str]) -> list[str]:
    return sorted(set(names) - set(EVENT_TYPES))


# --- the data of each type, built in one place so every emitter sends the documented shape ---


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


def organization_data(organization: Organization, *, changes: dict[str, Any]) -> dict[str, Any]:
    """``data`` of organization.updated: the organization now, and ``{field: {"from", "to"}}``."""
    return {
        "organization": {
            "slug": organization.slug,
            "name": organization.name,
            "require_2fa": organization.require_2fa,
        },
        "changes": changes,
    }
