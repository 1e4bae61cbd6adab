"""Inviting people into an organization: create, resend, revoke, accept, decline."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time, timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.limits import Limit, limit_check
from accounts.models import Invitation, Membership, Organization, User, new_invitation_nonce
from accounts.roles import Role, role_at_least
from accounts.services.audit import audit_record
from accounts.services.memberships import membership_add
from asterweb.errors import ApplicationError, ConflictError, NotFoundError, PermissionDeniedError, RateLimited
from asterweb.redis import counter_hit

_TOKEN_SALT = "accounts.invitation"


class InvitationInvalid(NotFoundError):
    """The link is forged, expired, revoked or already used; the message says which."""

    code = "invitation_invalid"


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps({"i": invitation.pk, "n": invitation.nonce}, salt=_TOKEN_SALT, compress=False)


def invitation_url(invitation: Invitation) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("invitation_detail", args=[invitation_token(invitation)])


def invitation_from_token(token: str, *, lock: bool = False) -> Invitation:
    """The pending, unexpired invitation a token names, or InvitationInvalid saying why not.
    ``lock``: read it under its row lock (inside a transaction), so the status checked is the
    one a concurrent revoke, decline or accept leaves."""
    try:
        payload = signing.loads(token, salt=_TOKEN_SALT)
        pk, nonce = int(payload["i"]), str(payload["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise InvitationInvalid("This invitation link is not valid.") from exc
    invitations = Invitation.objects.for_token_payload(pk=pk, nonce=nonce).select_related("organization", "invited_by")
    if lock:
        invitations = invitations.select_for_update(of=("self",))
    invitation = invitations.first()
    if invitation is None:
        raise InvitationInvalid("This invitation link is no longer valid: a newer one may have been sent.")
    _ensure_still_pending(invitation)
    return invitation


def _ensure_still_pending(invitation: Invitation) -> None:
    if invitation.organization.is_deleted:
        raise InvitationInvalid("This organization no longer exists.")
    if invitation.status != Invitation.Status.PENDING:
        raise InvitationInvalid(f"This invitation was already {invitation.get_status_display().lower()}.")
    if invitation.is_expired:
        raise InvitationInvalid("This invitation has expired. Ask for a new one.")


def _locked(organization: Organization, invitation: Invitation) -> Invitation:
    """The invitation re-read under its row lock (an admin's copy may be stale)."""
    return (
        Invitation.objects.for_org(organization)
        .select_related("organization", "invited_by")
        .select_for_update(of=("self",))
        .get(pk=invitation.pk)
    )


def _send_invitation_email(invitation: Invitation) -> None:
    context = {
        "invitation": invitation,
        "organization": invitation.organization,
        "inviter": invitation.invited_by,
        "url": invitation_url(invitation),
    }
    send_mail(
        subject=f"[AsterAI] You are invited to join {invitation.organization.name}",
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


def _throttle_invitation_email(*, organization: Organization, email: str) -> None:
    """Invitations are mail sent to an address someone typed: cap them per organization and per
    recipient (across organizations) per UTC day, so the invite form is no mail relay."""
    now = datetime.now(UTC)
    day = f"{now:%Y%m%d}"
    recipient = hashlib.sha256(email.lower().encode()).hexdigest()[:32]  # no address in Redis keys
    per_organization = settings.INVITATIONS_PER_ORGANIZATION_PER_DAY
    per_recipient = settings.INVITATIONS_PER_RECIPIENT_PER_DAY
    caps = [
        (f"org:{organization.pk}", per_organization, f"This organization has sent its {per_organization}", {}),
        (
            f"to:{recipient}",
            per_recipient,
            f"{email} has been sent {per_recipient}",
            {"email": ["Too many invitations to this address today."]},
        ),
    ]
    for counter, cap, who, fields in caps:
        if counter_hit(f"asterai:invitations:{counter}:{day}", ttl_seconds=2 * 86400) > cap:
            midnight = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=UTC)
            raise RateLimited(
                f"{who} invitations for today (UTC): try again tomorrow.",
                retry_after=int((midnight - now).total_seconds()) + 1,
                fields=fields,
            )


def _ensure_admin(actor_membership: Membership, role: str | None = None) -> None:
    if not role_at_least(actor_membership.role, Role.ADMIN):
        raise PermissionDeniedError("Only admins and owners can invite people.")
    if role == Role.OWNER and actor_membership.role != Role.OWNER:
        raise PermissionDeniedError("Only an owner can invite another owner.")


@transaction.atomic
def invitation_create(*, organization: Organization, actor_membership: Membership, email: str, role: str) -> Invitation:
    """Invite ``email`` with ``role`` and mail them a signed link."""
    email = email.strip().lower()
    if role not in Role.values:
        raise ApplicationError("Choose a valid role.", fields={"role": ["Choose a valid role."]})
    _ensure_admin(actor_membership, role)
    if Membership.objects.for_org(organization).filter(user__email__iexact=email).exists():
        raise ConflictError(f"{email} is already a member.", fields={"email": ["Already a member."]})
    if Invitation.objects.for_org(organization).filter(email__iexact=email, status=Invitation.Status.PENDING).exists():
        raise ConflictError(
            f"{email} already has a pending invitation: resend it instead.",
            fields={"email": ["Already invited."]},
        )
    limit_check(organization=organization, limit=Limit.SEATS)
    _throttle_invitation_email(organization=organization, email=email)
    invitation = Invitation.objects.create(
        organization=organization, email=email, role=role, invited_by=actor_membership.user
    )
    audit_record(
        action="invitation.created",
        organization=organization,
        actor=actor_membership.user,
        target=invitation,
        target_label=email,
        details={"email": email, "role": role},
    )
    transaction.on_commit(lambda: _send_invitation_email(invitation))
    return invitation


@transaction.atomic
def invitation_resend(
    *, organization: Organization, actor_membership: Membership, invitation: Invitation
) -> Invitation:
    """Send a fresh link (valid for the full period again); earlier links stop working."""
    _ensure_admin(actor_membership, invitation.role)
    invitation = _locked(organization, invitation)
    if invitation.status != Invitation.Status.PENDING:
        raise ConflictError("Only a pending invitation can be resent.")
    # An expired invitation holds no seat until it is revived.
    limit_check(organization=organization, limit=Limit.SEATS, amount=1 if invitation.is_expired else 0)
    _throttle_invitation_email(organization=organization, email=invitation.email)
    invitation.nonce = new_invitation_nonce()
    invitation.expires_at = timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)
    invitation.save(update_fields=["nonce", "expires_at"])
    audit_record(
        action="invitation.resent",
        organization=organization,
        actor=actor_membership.user,
        target=invitation,
        target_label=invitation.email,
    )
    transaction.on_commit(lambda: _send_invitation_email(invitation))
    return invitation


@transaction.atomic
def invitation_revoke(
    *, organization: Organization, actor_membership: Membership, invitation: Invitation
) -> Invitation:
    _ensure_admin(actor_membership, invitation.role)
    invitation = _locked(organization, invitation)
    if invitation.status != Invitation.Status.PENDING:
        raise ConflictError("Only a pending invitation can be revoked.")
    _respond(invitation, Invitation.Status.REVOKED)
    audit_record(
        action="invitation.revoked",
        organization=organization,
        actor=actor_membership.user,
        target=invitation,
        target_label=invitation.email,
    )
    return invitation


def _respond(invitation: Invitation, status: str) -> None:
    invitation.status = status
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "responded_at"])


def user_has_verified_email(user: User, email: str) -> bool:
    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    """Join the organization. The user must own the invited address (verified). The invitation's
    status is checked under its row lock: a concurrent revoke or decline wins or loses whole."""
    invitation = invitation_from_token(token, lock=True)
    if not user_has_verified_email(user, invitation.email):
        raise PermissionDeniedError(
            f"This invitation was sent to {invitation.email}. Sign in with that address to accept it."
        )
    # Answered first, so the seat it held is free for the membership that takes it.
    _respond(invitation, Invitation.Status.ACCEPTED)
    membership = membership_add(organization=invitation.organization, user=user, role=invitation.role)
    audit_record(
        action="invitation.accepted",
        organization=invitation.organization,
        actor=user,
        target=invitation,
        target_label=invitation.email,
        details={"role": invitation.role},
    )
    return membership


@transaction.atomic
def invitation_decline(*, token: str, user: User | None) -> Invitation:
    """Decline; holding the emailed link is enough, no account needed."""
    invitation = invitation_from_token(token, lock=True)
    _respond(invitation, Invitation.Status.DECLINED)
    audit_record(
        action="invitation.declined",
        organization=invitation.organization,
        actor=user,
        actor_label="" if user else invitation.email,
        target=invitation,
        target_label=invitation.email,
    )
    return invitation
