"""Pushing organization events to open dashboards over websockets (Channels groups in Redis),
and telling open sockets when their access may have ended.

Every events socket joins three groups: its organization's (events, and re-checks when the
organization changes), its user's (re-checks when a membership or the account changes) and its
session's (closing when the session ends). Control messages are sent after commit, so the
re-check reads what was committed; a Redis outage only delays revocation to the consumer's
periodic re-check (``WEBSOCKET_RECHECK_SECONDS``)."""

from __future__ import annotations

import hashlib
from typing import Any

import structlog
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from redis.exceptions import RedisError

from accounts.models import Organization
from accounts.roles import Role

log = structlog.get_logger(__name__)

ACCESS_RECHECK = "access.recheck"
SESSION_ENDED = "session.ended"


def organization_group(organization_id: int) -> str:
    return f"org.{organization_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def session_group(session_key: str) -> str:
    """Named by a digest: the session key is a credential and group names sit in Redis in clear."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def organization_broadcast(
    *, organization: Organization, event_type: str, data: dict[str, Any], sequence: int, min_role: str = Role.VIEWER
) -> None:
    """Send an event to every connected member whose role is at least ``min_role``. Only the events
    bus calls this (accounts.services.events): ``sequence`` is the event's number in the organization.
    Live events are best effort: when the channel layer's Redis is unreachable the event is dropped
    (a client catches up from the events API) rather than failing the action that caused it."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            organization_group(organization.pk),
            {"type": "org.event", "event": event_type, "data": data, "sequence": sequence, "min_role": str(min_role)},
        )
    except (RedisError, OSError, TimeoutError) as error:
        log.warning("realtime.broadcast_dropped", organization_id=organization.pk, error=type(error).__name__)


def _send_after_commit(group: str, message_type: str) -> None:
    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(group, {"type": message_type})
        except (RedisError, OSError, TimeoutError):
            log.warning("socket_revocation_push_failed", message_type=message_type, exc_info=True)

    transaction.on_commit(send)


def sockets_recheck_for_user(*, user_id: int) -> None:
    """The user's memberships, role or account changed: their sockets re-check access now."""
    _send_after_commit(user_group(user_id), ACCESS_RECHECK)


def sockets_recheck_for_organization(*, organization_id: int) -> None:
    """The organization was deleted or its rules changed: every member's socket re-checks access now."""
    _send_after_commit(organization_group(organization_id), ACCESS_RECHECK)


def sockets_close_for_session(*, session_key: str) -> None:
    """The session ended (logout, ended from the sessions page): its sockets close."""
    _send_after_commit(session_group(session_key), SESSION_ENDED)
