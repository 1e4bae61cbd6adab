"""Creating, changing, deleting and purging organizations."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.events import organization_data
from accounts.limits import Limit, limit_check
from accounts.models import Membership, Organization, User
from accounts.realtime import sockets_recheck_for_organization
from accounts.roles import Role
from accounts.services.audit import audit_record
from asterweb.errors import ApplicationError, ConflictError
from asterweb.events import event_publish

RESERVED_SLUGS = frozenset({"new", "admin", "api", "static", "settings", "www", "app"})


def _unique_slug(name: str) -> str:
    base = slugify(name)[:40].strip("-") or "org"
    if base in RESERVED_SLUGS:
        base = f"{base}-org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def organization_create(*, user: User, name: str, slug: str = "") -> Organization:
    """Create an organization with ``user`` as its owner."""
    name = name.strip()
    if not name:
        raise ApplicationError("Give the organization a name.", fields={"name": ["This field is required."]})
    if slug:
        if slug in RESERVED_SLUGS or Organization.objects.filter(slug=slug).exists():
            raise ConflictError("That address is taken.", fields={"slug": ["That address is taken."]})
    else:
        slug = _unique_slug(name)
    limit_check(organization=None, user=user, limit=Limit.ORGANIZATIONS_PER_USER)
    try:
        with transaction.atomic():
            organization = Organization.objects.create(name=name, slug=slug)
    except IntegrityError as exc:  # a concurrent create took the slug
        raise ConflictError("That address is taken.", fields={"slug": ["That address is taken."]}) from exc
    Membership.objects.create(organization=organization, user=user, role=Role.OWNER)
    if user.default_organization_id is None:
        user.default_organization = organization
        user.save(update_fields=["default_organization"])
    audit_record(action="organization.created", organization=organization, actor=user, target=organization)
    event_publish(organization=organization, type="organization.created", data=organization_data(organization))
    return organization


def first_organization_name(user: User) -> str:
    local = user.email.split("@", 1)[0]
    return f"{user.name or local}'s organization"


@transaction.atomic
def organization_update(*, organization: Organization, actor: User, name: str, require_2fa: bool) -> Organization:
    """Rename and/or change the 2FA requirement; audits exactly what changed."""
    name = name.strip()
    if not name:
        raise ApplicationError("Give the organization a name.", fields={"name": ["This field is required."]})
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    changes = {}
    if name != organization.name:
        changes["name"] = {"from": organization.name, "to": name}
        organization.name = name
    if require_2fa != organization.require_2fa:
        changes["require_2fa"] = {"from": organization.require_2fa, "to": require_2fa}
        organization.require_2fa = require_2fa
    if changes:
        organization.save(update_fields=["name", "require_2fa"])
        if "require_2fa" in changes:
            sockets_recheck_for_organization(organization_id=organization.pk)
        audit_record(
            action="organization.updated",
            organization=organization,
            actor=actor,
            target=organization,
            details=changes,
        )
        event_publish(
            organization=organization,
            type="organization.updated",
            data=organization_data(organization, changes=changes),
        )
    return organization


@transaction.atomic
def organization_delete(*, organization: Organization, actor: User, confirm_slug: str) -> Organization:
    """Schedule the organization for deletion: it disappears now, its data is purged after the grace period."""
    if confirm_slug.strip() != organization.slug:
        raise ApplicationError(
            "Type the organization's address exactly to confirm.",
            fields={"confirm": [f"Type “{organization.slug}” to confirm."]},
        )
    now = timezone.now()
    organization.deleted_at = now
    organization.purge_after = now + timedelta(days=settings.ORGANIZATION_DELETION_GRACE_DAYS)
    organization.save(update_fields=["deleted_at", "purge_after"])
    sockets_recheck_for_organization(organization_id=organization.pk)
    User.objects.filter(default_organization=organization).update(default_organization=None)
    audit_record(
        action="organization.deleted",
        organization=organization,
        actor=actor,
        target=organization,
        details={"purge_after": organization.purge_after.isoformat()},
    )
    return organization


@transaction.atomic
def organization_restore(*, organization: Organization, actor: User) -> Organization:
    """Undo a scheduled deletion during the grace period (support staff)."""
    if not organization.is_deleted:
        return organization
    organization.deleted_at = None
    organization.purge_after = None
    organization.save(update_fields=["deleted_at", "purge_after"])
    audit_record(action="organization.restored", organization=organization, actor=actor, target=organization)
    return organization


def organization_purge(*, organization_id: int) -> bool:
    """Remove an organization whose grace period is over, with all its tenant data.
    The audit log keeps its events. Safe to call twice."""
    with transaction.atomic():
        organization = (
            Organization.objects.select_for_update()
            .filter(pk=organization_id, deleted_at__isnull=False, purge_after__lte=timezone.now())
            .first()
        )
        if organization is None:
            return False
        audit_record(
            action="organization.purged",
            organization=organization,
            target=organization,
            details={"slug": organization.slug, "name": organization.name},
        )
        organization.delete()
    return True
