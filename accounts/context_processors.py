"""Template context every page needs: the organization switcher and the theme."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.roles import Role, role_at_least
from accounts.selectors import memberships_of_user


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"theme": "system"}
    membership = getattr(request, "membership", None)
    return {
        "theme": user.theme,
        "nav_memberships": memberships_of_user(user=user),
        "current_org": getattr(request, "organization", None),
        "current_membership": membership,
        "is_org_admin": membership is not None and role_at_least(membership.role, Role.ADMIN),
        "is_org_owner": membership is not None and membership.role == Role.OWNER,
    }
