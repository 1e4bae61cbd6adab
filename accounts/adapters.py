"""allauth hooks."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.core.exceptions import PermissionDenied

from accounts.invitation_session import has_invitation_token, invitation_token_in_session
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
        token = invitation_token_in_session(request)
        if not token:
            return False
        from accounts.services import InvitationInvalid, invitation_from_token

        try:
            invitation = invitation_from_token(token)
        except InvitationInvalid:
            return False
        return invitation.email.lower() == email.strip().lower()

    def is_open_for_signup(self, request) -> bool:
        """Closed deployments still let invited people sign up (the invitation link proves it)."""
        return settings.SIGNUP_OPEN or has_invitation_token(request)
