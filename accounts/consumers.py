"""Websocket consumers: a member's live feed of their organization's events.

Access is checked at connect and again for as long as the socket is open: every
``WEBSOCKET_RECHECK_SECONDS`` and at once when a service pushes a re-check (``accounts.realtime``).
A socket whose access ended is closed with the code connect would have refused it with; one
that reaches ``WEBSOCKET_MAX_AGE_SECONDS`` is closed with ``CLOSE_TOO_OLD`` so the client
reconnects (and is checked afresh)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import structlog
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.contrib.sessions.backends.base import SessionBase
from django.utils.crypto import constant_time_compare

from accounts.access import organization_second_factor_need
from accounts.models import User
from accounts.realtime import organization_group, session_group, user_group
from accounts.roles import role_at_least
from accounts.selectors import membership_for_slug

log = structlog.get_logger(__name__)

CLOSE_UNAUTHENTICATED = 4401  # no session, or it ended (logout, ended elsewhere, password changed)
CLOSE_2FA_REQUIRED = 4403  # the organization requires a second factor this session lacks
CLOSE_NOT_FOUND = 4404  # not a member (or no longer), or the organization is gone
CLOSE_TOO_OLD = 4408  # the connection reached WEBSOCKET_MAX_AGE_SECONDS: reconnect
CLOSE_INTERNAL_ERROR = 1011  # access could not be re-checked (database down): reconnect later


@dataclass(frozen=True)
class EventsAccess:
    """What a session may see of an organization's feed: a role, or the close code refusing it."""

    refusal: int | None = None
    user_id: int | None = None
    organization_id: int | None = None
    role: str = ""


def _session_user(session: SessionBase) -> User | None:
    """The session's user if Django would still accept the session (it exists, names an active
    user, and matches their password), read only: ``django.contrib.auth.get_user`` would re-key
    or flush the session, which is for the browser's own requests to do."""
    try:
        user_id = User._meta.pk.to_python(session[SESSION_KEY])
        backend_path = session[BACKEND_SESSION_KEY]
    except KeyError:
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(user_id)
    if user is None:
        return None
    session_hash = session.get(HASH_SESSION_KEY) or ""
    valid_hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if not any(constant_time_compare(session_hash, valid) for valid in valid_hashes):
        return None
    return user


def events_access(*, session_key: str | None, org_slug: str) -> EventsAccess:
    """Whether the session with ``session_key`` may follow the organization's events now, read
    fresh from the session store and the database (called at connect and on every re-check)."""
    if not session_key:
        return EventsAccess(refusal=CLOSE_UNAUTHENTICATED)
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    user = _session_user(session)
    if user is None:
        return EventsAccess(refusal=CLOSE_UNAUTHENTICATED)
    membership = membership_for_slug(user=user, slug=org_slug)
    if membership is None:
        return EventsAccess(refusal=CLOSE_NOT_FOUND)
    if organization_second_factor_need(organization=membership.organization, user=user, session=session) is not None:
        return EventsAccess(refusal=CLOSE_2FA_REQUIRED)
    return EventsAccess(user_id=user.pk, organization_id=membership.organization_id, role=membership.role)


class OrganizationEventsConsumer(AsyncJsonWebsocketConsumer):
    """Same rules as the HTML views: only members, foreign organizations look absent,
    and an organization requiring 2FA refuses members without it; kept while connected."""

    role: str = ""

    async def connect(self) -> None:
        self.org_slug: str = self.scope["url_route"]["kwargs"]["org_slug"]
        session = self.scope.get("session")
        self.session_key: str | None = session.session_key if session is not None else None
        self.joined: list[str] = []
        self.ended = False
        self.watcher: asyncio.Task | None = None
        access = await database_sync_to_async(events_access)(session_key=self.session_key, org_slug=self.org_slug)
        if access.refusal is not None:
            await self.close(code=access.refusal)
            return
        self.role = access.role
        # Revocations pushed between the check above and joining are caught by the periodic re-check.
        for group in (
            organization_group(access.organization_id),
            user_group(access.user_id),
            session_group(self.session_key),
        ):
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.append(group)
        await self.accept()
        self.watcher = asyncio.create_task(self._watch())

    async def disconnect(self, code: int) -> None:
        if self.watcher is not None:
            self.watcher.cancel()
        await self._leave_groups()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The feed is one-way; clients have nothing to send."""

    async def org_event(self, message: dict[str, Any]) -> None:
        if not self.ended and role_at_least(self.role, message["min_role"]):
            await self.send_json({"event": message["event"], "sequence": message["sequence"], "data": message["data"]})

    async def access_recheck(self, message: dict[str, Any]) -> None:
        """Pushed after a membership, account or organization change: re-read access before
        handling the next event, so a demoted member never sees one more event of the old role."""
        await self._recheck()

    async def session_ended(self, message: dict[str, Any]) -> None:
        await self._end(CLOSE_UNAUTHENTICATED)

    async def _recheck(self) -> None:
        if self.ended:
            return
        access = await database_sync_to_async(events_access)(session_key=self.session_key, org_slug=self.org_slug)
        if access.refusal is not None:
            await self._end(access.refusal)
        else:
            self.role = access.role

    async def _watch(self) -> None:
        """Re-check access every WEBSOCKET_RECHECK_SECONDS; close at WEBSOCKET_MAX_AGE_SECONDS."""
        loop = asyncio.get_running_loop()
        interval = float(settings.WEBSOCKET_RECHECK_SECONDS)
        too_old_at = loop.time() + float(settings.WEBSOCKET_MAX_AGE_SECONDS)
        try:
            while not self.ended:
                remaining = too_old_at - loop.time()
                if remaining <= 0:
                    await self._end(CLOSE_TOO_OLD)
                    return
                await asyncio.sleep(min(interval, remaining))
                await self._recheck()
        except Exception:
            # Fail closed: a socket whose access cannot be verified does not stay open unchecked.
            log.exception("websocket_access_recheck_failed")
            await self._end(CLOSE_INTERNAL_ERROR)

    async def _end(self, code: int) -> None:
        if self.ended:
            return
        self.ended = True
        await self._leave_groups()
        await self.close(code=code)

    async def _leave_groups(self) -> None:
        joined, self.joined = getattr(self, "joined", []), []
        for group in joined:
            await self.channel_layer.group_discard(group, self.channel_name)
