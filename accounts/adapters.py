"""allauth hooks."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        """Closed deployments still let invited people sign up (the invitation link proves it)."""
        return settings.SIGNUP_OPEN or bool(request.session.get("invitation_token"))
