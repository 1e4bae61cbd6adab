"""Reads for accounts and organizations."""

from __future__ import annotations

from datetime import datetime

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.models import ApiKey, AuditEvent, Invitation, Membership, Organization, User
from accounts.roles import Role, role_at_least


def memberships_of_user(*, user: User) -> QuerySet[Membership]:
    """The user's memberships in organizations that are not being deleted, by name."""
    return (
        Membership.objects.for_user(user)
        .filter(organization__deleted_at__isnull=True)
        .select_related("organization")
        .order_by("organization__name")
    )


def membership_for_slug(*, user: User, slug: str, api_key: ApiKey | None = None) -> Membership | None:
    """The caller's membership of the live organization under ``slug`` (None: answer 404), with the
    organization and user loaded. An API key only works in its own organization; its holder's
    membership was loaded with it (``api_key_authenticate``, which refuses deleted organizations)."""
    if api_key is not None:
        return api_key.holder_membership if api_key.organization.slug == slug else None
    return (
        Membership.objects.for_user(user)
        .filter(organization__slug=slug, organization__deleted_at__isnull=True)
        .select_related("organization", "user")
        .first()
    )


def membership_get(*, organization: Organization, user: User) -> Membership | None:
    return Membership.objects.for_org(organization).filter(user=user).first()


def organization_members(*, organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.for_org(organization).select_related("user").order_by("created_at")


def organization_owner_count(*, organization: Organization) -> int:
    return Membership.objects.for_org(organization).filter(role=Role.OWNER).count()


def invitations_pending(*, organization: Organization) -> QuerySet[Invitation]:
    return (
        Invitation.objects.for_org(organization)
        .filter(status=Invitation.Status.PENDING)
        .select_related("invited_by")
        .order_by("-created_at")
    )


def organization_ids_due_for_purge() -> list[int]:
    return list(
        Organization.objects.filter(deleted_at__isnull=False, purge_after__lte=timezone.now()).values_list(
            "pk", flat=True
        )
    )


def audit_events_for_org(
    *,
    organization: Organization,
    action: str = "",
    actor: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """The organization's audit log, newest first, filtered by action prefix, actor and time range."""
    events = AuditEvent.objects.for_org(organization)
    if action:
        events = events.filter(action__startswith=action)
    if actor:
        events = events.filter(actor_label__icontains=actor)
    if since:
        events = events.filter(created_at__gte=since)
    if until:
        events = events.filter(created_at__lt=until)
    return events.order_by("-created_at", "-id")


def audit_actions_for_org(*, organization: Organization) -> list[str]:
    return list(AuditEvent.objects.for_org(organization).order_by("action").values_list("action", flat=True).distinct())


SECURITY_ACTION_PREFIXES = ("auth.", "mfa.", "user.", "api_key.")


def audit_events_for_user(*, user: User, limit: int = 50) -> QuerySet[AuditEvent]:
    """The user's own recent security activity: sign-ins and failures, password, 2FA and key changes."""
    prefixes = Q()
    for prefix in SECURITY_ACTION_PREFIXES:
        prefixes |= Q(action__startswith=prefix)
    return AuditEvent.objects.for_user_history(user).filter(prefixes).order_by("-created_at", "-id")[:limit]


def api_keys_visible_to(*, organization: Organization, membership: Membership) -> QuerySet[ApiKey]:
    """The member's own keys here; an admin sees every member's. Newest first, each annotated
    with ``owner_role`` (the owner's current role, which bounds what the key can do)."""
    keys = ApiKey.objects.for_org(organization).select_related("user")
    if not role_at_least(membership.role, Role.ADMIN):
        keys = keys.filter(user=membership.user)
    owner_role = Membership.objects.for_org(organization).filter(user=OuterRef("user")).values("role")[:1]
    return keys.annotate(owner_role=Subquery(owner_role)).order_by("-created_at", "-id")
