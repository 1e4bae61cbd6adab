"""Ending a user's sessions (allauth.usersessions keeps the list of signed-in browsers)."""

from __future__ import annotations

from allauth.usersessions.models import UserSession
from django.db import transaction

from accounts.models import User
from accounts.realtime import sockets_close_for_session
from accounts.services.audit import audit_record
from asterweb.errors import NotFoundError


@transaction.atomic
def user_sessions_end(*, sessions: list[UserSession]) -> None:
    """Sign these sessions out wherever they are: the session store forgets them and,
    after commit, their websockets close."""
    for session in sessions:
        session.end()
        sockets_close_for_session(session_key=session.session_key)
        audit_record(
            action="auth.session_ended",
            actor=session.user,
            target=session.user,
            details={"signed_in_from": session.ip, "browser": session.user_agent[:200]},
        )


def user_session_end(*, user: User, session_id: int) -> UserSession:
    """End one of the user's own sessions (another user's is not found)."""
    session = UserSession.objects.filter(user_id=user.pk, pk=session_id).select_related("user").first()
    if session is None:
        raise NotFoundError("No such session.")
    user_sessions_end(sessions=[session])
    return session
