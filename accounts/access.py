"""Declaring the minimum role an organization view needs (rule 2: views declare, the
middleware enforces before the view runs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from accounts.roles import Role

View = TypeVar("View", bound=Callable[..., Any])


def org_view(min_role: Role, *, allow_without_2fa: bool = False) -> Callable[[View], View]:
    """Mark a view under ``/o/<org_slug>/`` with the least role that may open it.

    ``allow_without_2fa`` lets members of an organization that requires 2FA reach
    the view before enrolling (only "leave organization" needs it).
    """

    def mark(view: View) -> View:
        view.org_min_role = Role(min_role)  # type: ignore[attr-defined]
        view.org_allow_without_2fa = allow_without_2fa  # type: ignore[attr-defined]
        return view

    return mark


def declared_min_role(view: Callable[..., Any]) -> Role | None:
    """The role a view declared, looking through class-based views and decorators."""
    for candidate in (view, getattr(view, "view_class", None), getattr(view, "cls", None)):
        role = getattr(candidate, "org_min_role", None)
        if role is not None:
            return role
    return None


def allows_without_2fa(view: Callable[..., Any]) -> bool:
    return any(
        getattr(candidate, "org_allow_without_2fa", False)
        for candidate in (view, getattr(view, "view_class", None), getattr(view, "cls", None))
    )
