"""Changing who belongs to an organization and with which role."""

from __future__ import annotations

from django.db import transaction

from accounts.events import member_data
from accounts.limits import Limit, limit_check
from accounts.models import Membership, Organization, User
from accounts.realtime import sockets_recheck_for_user
from accounts.roles import Role, role_at_least
from accounts.selectors import organization_owner_count
from accounts.services.api_keys import api_keys_lock_for_member, api_keys_revoke_for_member
from accounts.services.audit import audit_record
from asterweb.errors import ApplicationError, ConflictError, PermissionDeniedError
from asterweb.events import event_publish


def _lock_memberships(organization: Organization) -> None:
    """Serialize membership changes per organization, so two concurrent demotions
    cannot both see "another owner remains"."""
    Organization.objects.select_for_update().filter(pk=organization.pk).first()


def _ensure_not_last_owner(*, organization: Organization, membership: Membership, message: str) -> None:
    if membership.role == Role.OWNER and organization_owner_count(organization=organization) <= 1:
        raise ConflictError(message, code="last_owner")


def _ensure_can_manage(*, actor_membership: Membership, membership: Membership, new_role: str | None = None) -> None:
    if not role_at_least(actor_membership.role, Role.ADMIN):
        raise PermissionDeniedError("Only admins and owners can manage members.")
    touches_owner = membership.role == Role.OWNER or new_role == Role.OWNER
    if touches_owner and actor_membership.role != Role.OWNER:
        raise PermissionDeniedError("Only an owner can grant or change the owner role.")


@transaction.atomic
def membership_change_role(
    *, organization: Organization, actor_membership: Membership, membership: Membership, role: str
) -> Membership:
    """Give a member another role. The last owner cannot be demoted."""
    if role not in Role.values:
        raise ApplicationError("Choose a valid role.", fields={"role": ["Choose a valid role."]})
    _lock_memberships(organization)
    membership.refresh_from_db()
    _ensure_can_manage(actor_membership=actor_membership, membership=membership, new_role=role)
    if membership.role == role:
        return membership
    if membership.role == Role.OWNER:
        _ensure_not_last_owner(
            organization=organization,
            membership=membership,
            message="An organization needs an owner: make someone else owner first.",
        )
    if role == Role.OWNER:
        limit_check(organization=None, user=membership.user, limit=Limit.ORGANIZATIONS_PER_USER)
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    sockets_recheck_for_user(user_id=membership.user_id)
    audit_record(
        action="membership.role_changed",
        organization=organization,
        actor=actor_membership.user,
        target=membership,
        target_label=membership.user.email,
        details={"from": previous, "to": role},
    )
    return membership


def _remove(*, organization: Organization, membership: Membership, actor: User) -> None:
    user = membership.user
    api_keys_revoke_for_member(organization=organization, user=user, actor=actor)
    membership.delete()
    if user.default_organization_id == organization.pk:
        user.default_organization = None
        user.save(update_fields=["default_organization"])


@transaction.atomic
def membership_remove(*, organization: Organization, actor_membership: Membership, membership: Membership) -> None:
    """Remove another member from the organization."""
    if membership.pk == actor_membership.pk:
        raise ApplicationError("Use “Leave organization” to remove yourself.")
    # The departing member's keys first: before the audit (which holds the event counter, while
    # rotating a key holds the key and then audits) and before the organization's row (a
    # rotation's event row references the organization, which waits for _lock_memberships).
    api_keys_lock_for_member(organization=organization, user=membership.user)
    _lock_memberships(organization)
    membership.refresh_from_db()
    _ensure_can_manage(actor_membership=actor_membership, membership=membership)
    _ensure_not_last_owner(
        organization=organization, membership=membership, message="The last owner cannot be removed."
    )
    sockets_recheck_for_user(user_id=membership.user_id)
    audit_record(
        action="membership.removed",
        organization=organization,
        actor=actor_membership.user,
        target=membership,
        target_label=membership.user.email,
        details={"role": membership.role},
    )
    event_publish(organization=organization, type="member.removed", data=member_data(membership, reason="removed"))
    _remove(organization=organization, membership=membership, actor=actor_membership.user)


@transaction.atomic
def membership_leave(*, organization: Organization, membership: Membership) -> None:
    """A member leaves. The last owner must transfer ownership (or delete the organization) first."""
    # The departing member's keys first: before the audit (which holds the event counter, while
    # rotating a key holds the key and then audits) and before the organization's row (a
    # rotation's event row references the organization, which waits for _lock_memberships).
    api_keys_lock_for_member(organization=organization, user=membership.user)
    _lock_memberships(organization)
    membership.refresh_from_db()
    _ensure_not_last_owner(
        organization=organization,
        membership=membership,
        message="You are the last owner: transfer ownership or delete the organization instead.",
    )
    sockets_recheck_for_user(user_id=membership.user_id)
    audit_record(
        action="membership.left",
        organization=organization,
        actor=membership.user,
        target=membership,
        target_label=membership.user.email,
        details={"role": membership.role},
    )
    event_publish(organization=organization, type="member.removed", data=member_data(membership, reason="left"))
    _remove(organization=organization, membership=membership, actor=membership.user)


@transaction.atomic
def membership_add(*, organization: Organization, user: User, role: str) -> Membership:
    """Make ``user`` a member (used by invitation acceptance); takes a seat."""
    existing = Membership.objects.for_org(organization).filter(user=user).first()
    if existing is not None:
        return existing
    limit_check(organization=organization, limit=Limit.SEATS)
    if role == Role.OWNER:
        limit_check(organization=None, user=user, limit=Limit.ORGANIZATIONS_PER_USER)
    membership = Membership.objects.create(organization=organization, user=user, role=role)
    if user.default_organization_id is None:
        user.default_organization = organization
        user.save(update_fields=["default_organization"])
    audit_record(
        action="membership.added",
        organization=organization,
        actor=user,
        target=membership,
        target_label=user.email,
        details={"role": role},
    )
    event_publish(organization=organization, type="member.added", data=member_data(membership))
    return membership


@transaction.atomic
def ownership_transfer(
    *, organization: Organization, actor_membership: Membership, new_owner: Membership
) -> Membership:
    """Make another member the owner; the previous owner stays on as an admin. Roles are read
    again under the organization's lock, so of two concurrent transfers only the first happens."""
    if new_owner.pk == actor_membership.pk:
        raise ApplicationError("Choose another member to become owner.", fields={"member": ["Choose another member."]})
    _lock_memberships(organization)
    actor_membership.refresh_from_db()
    new_owner.refresh_from_db()
    if actor_membership.role != Role.OWNER:
        raise PermissionDeniedError("Only an owner can transfer ownership.")
    if new_owner.role != Role.OWNER:
        limit_check(organization=None, user=new_owner.user, limit=Limit.ORGANIZATIONS_PER_USER)
    previous_role = new_owner.role
    new_owner.role = Role.OWNER
    new_owner.save(update_fields=["role"])
    actor_membership.role = Role.ADMIN
    actor_membership.save(update_fields=["role"])
    for changed in (new_owner, actor_membership):
        sockets_recheck_for_user(user_id=changed.user_id)
    audit_record(
        action="organization.ownership_transferred",
        organization=organization,
        actor=actor_membership.user,
        target=new_owner,
        target_label=new_owner.user.email,
        details={"to": new_owner.user.email, "previous_role_of_new_owner": previous_role},
    )
    return new_owner
