"""Carrying an invitation through sign-up: the token waits in the session."""

from __future__ import annotations

from django.http import HttpRequest

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


def has_invitation_token(request: HttpRequest) -> bool:
    return bool(invitation_token_in_session(request))
