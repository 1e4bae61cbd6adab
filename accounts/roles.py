"""Organization roles, ordered from least to most privileged."""

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    TRADER = "trader", "Trader"
    ADMIN = "admin", "Admin"
    OWNER = "owner", "Owner"


_RANK = {Role.VIEWER: 0, Role.TRADER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def role_rank(role: str) -> int:
    return _RANK[Role(role)]


def role_at_least(role: str, minimum: str) -> bool:
    """True when ``role`` grants everything ``minimum`` does."""
    return role_rank(role) >= role_rank(minimum)


def roles_up_to(role: str) -> list[Role]:
    """The roles ``role`` grants everything of (itself and those below)."""
    return [other for other in Role if role_rank(other) <= role_rank(role)]
