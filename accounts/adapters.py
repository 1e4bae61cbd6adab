"""allauth hooks."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.usersessions.adapter import DefaultUserSessionsAdapter
from django.conf import settings

from accounts.invitation_session import has_invitation_token, invitation_token_in_session


class AccountAdapter(DefaultAccountAdapter):
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


class UserSessionsAdapter(DefaultUserSessionsAdapter):
    def end_sessions(self, sessions) -> None:
        """allauth's "sign out other sessions" ends them through the same service as ending one."""
        from accounts.services import user_sessions_end

        user_sessions_end(sessions=list(sessions))
