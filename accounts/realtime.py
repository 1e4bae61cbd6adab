"""Pushing organization events to open dashboards over websockets (Channels groups in Redis)."""

from __future__ import annotations

from typing import Any

import structlog
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from accounts.models import Organization
from accounts.roles import Role

log = structlog.get_logger(__name__)


def organization_group(organization_id: int) -> str:
    return f"org.{organization_id}"


def organization_broadcast(
    *, organization: Organization, event_type: str, data: dict[str, Any], min_role: Role = Role.VIEWER
) -> None:
    """Send an event to every connected member whose role is at least ``min_role``. Live events
    are best effort: when the channel layer's Redis is unreachable the event is dropped (open
    dashboards show it on their next load) rather than failing the action that caused it."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            organization_group(organization.pk),
            {"type": "org.event", "event": event_type, "data": data, "min_role": str(min_role)},
        )
    except (RedisError, OSError, TimeoutError) as error:
        log.warning("realtime.broadcast_dropped", organization_id=organization.pk, error=type(error).__name__)
