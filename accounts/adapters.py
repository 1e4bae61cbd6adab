"""allauth hooks."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.usersessions.adapter import DefaultUserSessionsAdapter
from django.conf import settings
from django.core.exceptions import PermissionDenied

from accounts.invitation_session import pending_invitation_in_session
from accounts.request_context import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request) -> str:
        """The app's one client-IP policy (``TRUSTED_PROXIES``), so allauth's per-IP rate limits,
        its sessions list and its notices count the client, not the reverse proxy."""
        ip = client_ip(request)
        if not ip:
            raise PermissionDenied("Unable to determine client IP address")
        return ip

    def is_email_verified(self, request, email: str) -> bool:
        """An address counts as verified at sign-up only if the person came through a
        pending invitation sent to exactly that address."""
        invitation = pending_invitation_in_session(request)
        return invitation is not None and invitation.email.lower() == email.strip().lower()

    def is_open_for_signup(self, request) -> bool:
        """Closed deployments still let invited people sign up: a valid pending invitation's link
        was opened in this browser (any stale or forged token is not enough), and the sign-up form
        then insists on the invited address (accounts.forms.SignupForm)."""
        return settings.SIGNUP_OPEN or pending_invitation_in_session(request) is not None


class UserSessionsAdapter(DefaultUserSessionsAdapter):
    def end_sessions(self, sessions) -> None:
        """allauth's "sign out other sessions" ends them through the same service as ending one."""
        from accounts.services import user_sessions_end

        user_sessions_end(sessions=list(sessions))
