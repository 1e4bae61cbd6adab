"""Websocket consumers: a member's live feed of their organization's events."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.access import organization_second_factor_need
from accounts.models import Membership
from accounts.realtime import organization_group
from accounts.roles import role_at_least
from accounts.selectors import membership_for_slug

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_2FA_REQUIRED = 4403


@database_sync_to_async
def _membership(user: Any, slug: str, session: Any) -> tuple[Membership | None, bool]:
    membership = membership_for_slug(user=user, slug=slug)
    needs_2fa = membership is not None and (
        organization_second_factor_need(organization=membership.organization, user=user, session=session) is not None
    )
    return membership, needs_2fa


class OrganizationEventsConsumer(AsyncJsonWebsocketConsumer):
    """Same rules as the HTML views: only members, foreign organizations look absent,
    and an organization requiring 2FA refuses sessions that did not pass it."""

    group: str | None = None
    role: str = ""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        membership, needs_2fa = await _membership(
            user, self.scope["url_route"]["kwargs"]["org_slug"], self.scope.get("session")
        )
        if membership is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if needs_2fa:
            await self.close(code=CLOSE_2FA_REQUIRED)
            return
        self.role = membership.role
        self.group = organization_group(membership.organization_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The feed is one-way; clients have nothing to send."""

    async def org_event(self, message: dict[str, Any]) -> None:
        if role_at_least(self.role, message["min_role"]):
            await self.send_json({"event": message["event"], "sequence": message["sequence"], "data": message["data"]})
