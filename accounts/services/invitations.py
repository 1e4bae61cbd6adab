"""Inviting people into an organization: create, resend, revoke, accept, decline."""

from __future__ import annotations

from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, Organization, User, new_invitation_nonce
from accounts.roles import Role, role_at_least
from accounts.services.audit import audit_record
from accounts.services.memberships import membership_add
from asterweb.errors import ApplicationError, ConflictError, NotFoundError, PermissionDeniedError

_TOKEN_SALT = "accounts.invitation"


class InvitationInvalid(NotFoundError):
    """The link is forged, expired, revoked or already used; the message says which."""

    code = "invitation_invalid"


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps({"i": invitation.pk, "n": invitation.nonce}, salt=_TOKEN_SALT, compress=False)


def invitation_url(invitation: Invitation) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("invitation_detail", args=[invitation_token(invitation)])


def invitation_from_token(token: str) -> Invitation:
    """The pending, unexpired invitation a token names, or InvitationInvalid saying why not."""
    try:
        payload = signing.loads(token, salt=_TOKEN_SALT)
        pk, nonce = int(payload["i"]), str(payload["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise InvitationInvalid("This invitation link is not valid.") from exc
    invitation = (
        Invitation.objects.for_token_payload(pk=pk, nonce=nonce).select_related("organization", "invited_by").first()
    )
    if invitation is None:
        raise InvitationInvalid("This invitation link is no longer valid: a newer one may have been sent.")
    if invitation.organization.is_deleted:
        raise InvitationInvalid("This organization no longer exists.")
    if invitation.status != Invitation.Status.PENDING:
        raise InvitationInvalid(f"This invitation was already {invitation.get_status_display().lower()}.")
    if invitation.is_expired:
        raise InvitationInvalid("This invitation has expired. Ask for a new one.")
    return invitation


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
    if invitation.status != Invitation.Status.PENDING:
        raise ConflictError("Only a pending invitation can be resent.")
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
    """Join the organization. The user must own the invited address (verified)."""
    invitation = invitation_from_token(token)
    Invitation.objects.for_org(invitation.organization).select_for_update().filter(pk=invitation.pk).first()
    if not user_has_verified_email(user, invitation.email):
        raise PermissionDeniedError(
            f"This invitation was sent to {invitation.email}. Sign in with that address to accept it."
        )
    membership = membership_add(organization=invitation.organization, user=user, role=invitation.role)
    _respond(invitation, Invitation.Status.ACCEPTED)
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
    invitation = invitation_from_token(token)
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
