"""Carrying an invitation through sign-up: the token waits in the session."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from accounts.models import Invitation

_KEY = "invitation_token"


def remember_invitation_token(request: HttpRequest, token: str) -> None:
    request.session[_KEY] = token


def pop_invitation_token(request: HttpRequest | None) -> str | None:
    if request is None or not hasattr(request, "session"):
        return None
    return request.session.pop(_KEY, None)


def invitation_token_in_session(request: HttpRequest | None) -> str | None:
    if request is None or not hasattr(request, "session"):
        return None
    return request.session.get(_KEY)


def pending_invitation_in_session(request: HttpRequest | None) -> Invitation | None:
    """The pending, unexpired invitation whose link this browser opened, if any (a stale,
    revoked or forged token counts as none)."""
    token = invitation_token_in_session(request)
    if not token:
        return None
    from accounts.services.invitations import InvitationInvalid, invitation_from_token

    try:
        return invitation_from_token(token)
    except InvitationInvalid:
        return None
