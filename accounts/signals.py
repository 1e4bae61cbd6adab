"""Receivers that route authentication and admin events into services and the audit log."""

from __future__ import annotations

from typing import Any

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.forms import BooleanField
from django.http import HttpRequest

from accounts import services
from accounts.forms import REVOKE_API_KEYS_FIELD
from accounts.invitation_session import pop_invitation_token
from accounts.models import Organization
from accounts.realtime import sockets_close_for_session, sockets_recheck_for_user
from accounts.services.api_keys import api_keys_revoke_for_user
from accounts.tenancy import TenantModel
from asterweb.errors import PermissionDeniedError

User = get_user_model()


@receiver(account_signals.user_signed_up)
def on_user_signed_up(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    token = pop_invitation_token(request)
    if token:
        try:
            services.invitation_accept(token=token, user=user)
        except services.InvitationInvalid:
            pass  # the link went stale while they signed up; they get their own organization
        except PermissionDeniedError:
            pass  # signed up with another address than the invited one
    services.user_signed_up(user=user)


@receiver(user_logged_in)
def on_user_logged_in(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    services.user_signed_in(request=request, user=user)


@receiver(user_logged_out)
def on_user_logged_out(sender: Any, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        services.audit_record(action="auth.logout", actor=user, target=user)
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        sockets_close_for_session(session_key=session_key)


@receiver(user_login_failed)
def on_user_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    email = str(credentials.get("email") or credentials.get("username") or "")[:254]
    target = User.objects.filter(email__iexact=email).first() if email else None
    services.audit_record(
        action="auth.login_failed",
        actor_label="anonymous",
        target=target,
        target_label=email,
        details={"email": email},
    )


def _audit_account_event(action: str):
    def handler(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
        services.audit_record(action=action, actor=user, target=user)
        sockets_recheck_for_user(user_id=user.pk)  # other sessions no longer match the password

    return handler


for _signal, _action in [
    (account_signals.password_changed, "auth.password_changed"),
    (account_signals.password_set, "auth.password_set"),
    (account_signals.password_reset, "auth.password_reset"),
]:
    _signal.connect(_audit_account_event(_action), weak=False, dispatch_uid=_action)


@receiver(account_signals.email_confirmed)
def on_email_confirmed(sender: Any, request: HttpRequest, email_address: Any, **kwargs: Any) -> None:
    services.audit_record(
        action="auth.email_verified",
        actor=email_address.user,
        target=email_address.user,
        details={"email": email_address.email},
    )


@receiver(account_signals.email_changed)
def on_email_changed(
    sender: Any, request: HttpRequest, user: User, from_email_address: Any, to_email_address: Any, **kwargs: Any
) -> None:
    services.audit_record(
        action="auth.email_changed",
        actor=user,
        target=user,
        details={"from": getattr(from_email_address, "email", None), "to": to_email_address.email},
    )


def _audit_mfa_event(verb: str):
    def handler(sender: Any, request: HttpRequest, user: User, authenticator: Any, **kwargs: Any) -> None:
        services.audit_record(action=f"mfa.{authenticator.type}_{verb}", actor=user, target=user)
        sockets_recheck_for_user(user_id=user.pk)  # an organization may require what changed
        if verb in ("removed", "reset"):
            _revoke_api_keys_if_asked(request, user, reason=f"mfa_{authenticator.type}_{verb}")

    return handler


def _revoke_api_keys_if_asked(request: HttpRequest | None, user: User, *, reason: str) -> None:
    """The 2FA forms (accounts.forms.DeactivateTOTPForm, GenerateRecoveryCodesForm) offer to
    revoke every key; allauth's views have no save hook, so the ticked box is acted on here."""
    if request is None or request.method != "POST":
        return
    if BooleanField(required=False).to_python(request.POST.get(REVOKE_API_KEYS_FIELD)):
        api_keys_revoke_for_user(user=user, reason=reason)


for _signal, _verb in [
    (mfa_signals.authenticator_added, "added"),
    (mfa_signals.authenticator_removed, "removed"),
    (mfa_signals.authenticator_reset, "reset"),
]:
    _signal.connect(_audit_mfa_event(_verb), weak=False, dispatch_uid=f"mfa.{_verb}")


@receiver(mfa_signals.authentication_failed)
def on_mfa_failed(sender: Any, request: HttpRequest, user: User, authenticator: Any, **kwargs: Any) -> None:
    services.audit_record(
        action="mfa.authentication_failed", actor=user, target=user, details={"type": authenticator.type}
    )


def _organization_of(entry: LogEntry) -> Organization | None:
    """The organization an admin change touched, so its admins see support's actions too."""
    model = entry.content_type.model_class()
    if model is Organization:
        return Organization.objects.filter(pk=entry.object_id).first()
    if model is not None and issubclass(model, TenantModel):
        row = model._base_manager.filter(pk=entry.object_id).select_related("organization").first()
        return row.organization if row is not None else None
    return None


_ADMIN_VERBS = {1: "added", 2: "changed", 3: "deleted"}


@receiver(post_save, sender=LogEntry)
def on_admin_change(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    """Every change made through the admin site is audited too."""
    if not created:
        return
    services.audit_record(
        action=f"admin.{_ADMIN_VERBS.get(instance.action_flag, 'changed')}",
        organization=_organization_of(instance),
        actor=instance.user,
        target_label=f"{instance.content_type.app_label}.{instance.content_type.model}#{instance.object_id}: "
        f"{instance.object_repr}"[:254],
        details={
            "model": f"{instance.content_type.app_label}.{instance.content_type.model}",
            "object_id": str(instance.object_id),
            "change": instance.get_change_message(),
        },
    )
