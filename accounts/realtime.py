"""Pushing organization events to open dashboards over websockets (Channels groups in Redis)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from accounts.models import Organization
from accounts.roles import Role


def organization_group(organization_id: int) -> str:
    return f"org.{organization_id}"


def organization_broadcast(
    *, organization: Organization, event_type: str, data: dict[str, Any], sequence: int, min_role: str = Role.VIEWER
) -> None:
    """Send an event to every connected member whose role is at least ``min_role``. Only the events
    bus calls this (accounts.services.events): ``sequence`` is the event's number in the organization."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(
        organization_group(organization.pk),
        {"type": "org.event", "event": event_type, "data": data, "sequence": sequence, "min_role": str(min_role)},
    )
