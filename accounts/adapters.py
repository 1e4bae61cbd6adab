"""allauth hooks."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings

from accounts.invitation_session import has_invitation_token


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        """Closed deployments still let invited people sign up (the invitation link proves it)."""
        return settings.SIGNUP_OPEN or has_invitation_token(request)
