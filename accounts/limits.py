"""Quotas through one door: ``limit_check(*, organization, limit, amount=1, user=None)``.

Accounts counts what is in use; how much is *allowed* comes from one allowance function that a
higher app registers at start-up (billing: the plan's entitlements), without accounts importing
it. Until one registers, the deployment's settings answer (``MAX_KEYS_PER_MEMBER``,
``MAX_ENDPOINTS_PER_ORGANIZATION``, ``MAX_ORGANIZATIONS_PER_USER``,
``MAX_SEATS_PER_ORGANIZATION``; ``None`` is unlimited). Every limited action calls the door inside
its service's transaction; the door locks the counted subject's row, so two concurrent creates
cannot both take the last unit.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.models import ApiKey, Invitation, Membership, Organization, User
from accounts.roles import Role
from accounts.webhooks.models import WebhookEndpoint
from asterweb.errors import LimitExceeded


class Limit(StrEnum):
    API_KEYS_PER_MEMBER = "api_keys_per_member"  # active keys one member holds in one organization
    WEBHOOK_ENDPOINTS = "webhook_endpoints"  # endpoints of one organization
    ORGANIZATIONS_PER_USER = "organizations_per_user"  # live organizations one user owns
    SEATS = "seats"  # members of one organization plus its pending invitations


class Allowance(Protocol):
    def __call__(self, *, organization: Organization | None, user: User | None, limit: Limit) -> int | None:
        """How much of ``limit`` is allowed for this organization (or user); None: unlimited."""


def _settings_allowance(*, organization: Organization | None, user: User | None, limit: Limit) -> int | None:
    return {
        Limit.API_KEYS_PER_MEMBER: settings.MAX_KEYS_PER_MEMBER,
        Limit.WEBHOOK_ENDPOINTS: settings.MAX_ENDPOINTS_PER_ORGANIZATION,
        Limit.ORGANIZATIONS_PER_USER: settings.MAX_ORGANIZATIONS_PER_USER,
        Limit.SEATS: settings.MAX_SEATS_PER_ORGANIZATION,
    }[limit]


_allowance: Allowance = _settings_allowance


def limit_allowance_register(allowance: Allowance) -> Allowance:
    """Answer every limit with ``allowance`` from now on (billing calls this in its AppConfig.ready);
    returns the previous answerer so a caller can restore it."""
    global _allowance
    previous, _allowance = _allowance, allowance
    return previous


def _organizations_owned(user: User) -> int:
    return Membership.objects.for_user(user).filter(role=Role.OWNER, organization__deleted_at__isnull=True).count()


def _seats_taken(organization: Organization) -> int:
    members = Membership.objects.for_org(organization).count()
    pending = (
        Invitation.objects.for_org(organization)
        .filter(Q(status=Invitation.Status.PENDING) & Q(expires_at__gt=timezone.now()))
        .count()
    )
    return members + pending


_USAGE: dict[Limit, Callable[[Organization | None, User | None], int]] = {
    Limit.API_KEYS_PER_MEMBER: lambda organization, user: (
        ApiKey.objects.for_org(organization).filter(user=user, revoked_at__isnull=True).count()
    ),
    Limit.WEBHOOK_ENDPOINTS: lambda organization, user: WebhookEndpoint.objects.for_org(organization).count(),
    Limit.ORGANIZATIONS_PER_USER: lambda organization, user: _organizations_owned(user),
    Limit.SEATS: lambda organization, user: _seats_taken(organization),
}

_REFUSALS = {
    Limit.API_KEYS_PER_MEMBER: "You already have {allowed} API keys here: revoke one first.",
    Limit.WEBHOOK_ENDPOINTS: "An organization can have {allowed} webhook endpoints: delete one first.",
    Limit.ORGANIZATIONS_PER_USER: "You can own at most {allowed} organizations: delete one or hand it over first.",
    Limit.SEATS: "This organization has {allowed} seats and members plus pending invitations fill them: "
    "remove a member or revoke an invitation first.",
}

_PER_USER = frozenset({Limit.API_KEYS_PER_MEMBER, Limit.ORGANIZATIONS_PER_USER})
_PER_ORGANIZATION = frozenset({Limit.API_KEYS_PER_MEMBER, Limit.WEBHOOK_ENDPOINTS, Limit.SEATS})


def _lock_subject(*, organization: Organization | None, user: User | None, limit: Limit) -> None:
    """Serialize concurrent takers of the same quota (call inside the action's transaction)."""
    if limit in _PER_USER:
        User.objects.select_for_update().filter(pk=user.pk).first()
    else:
        Organization.objects.select_for_update().filter(pk=organization.pk).first()


def limit_check(*, organization: Organization | None, limit: Limit, amount: int = 1, user: User | None = None) -> None:
    """Raise ``LimitExceeded`` unless ``amount`` more of ``limit`` fits. ``user`` is the member for
    per-member limits and the user for organizations per user (``organization`` None there);
    ``amount=0`` asks whether what is already in use still fits (after a plan was lowered)."""
    if limit in _PER_USER and user is None:
        raise TypeError(f"limit_check({limit}) needs the user")
    if limit in _PER_ORGANIZATION and organization is None:
        raise TypeError(f"limit_check({limit}) needs the organization")
    allowed = _allowance(organization=organization, user=user, limit=limit)
    if allowed is None:
        return
    _lock_subject(organization=organization, user=user, limit=limit)
    if _USAGE[limit](organization, user) + amount > allowed:
        raise LimitExceeded(_REFUSALS[limit].format(allowed=allowed), limit=limit.value, allowed=allowed)
