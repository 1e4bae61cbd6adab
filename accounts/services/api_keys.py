"""Per-user API keys: issue (shown once), rotate with a grace period, revoke, authenticate.

A key looks like ``ak_live_<lookup>_<secret>``. The ``ak_live_<lookup>`` prefix is stored in
clear to find the row; the whole key is stored only as HMAC-SHA256 under a server secret
(``API_KEY_HMAC_SECRET``), compared in constant time: cheap on every request, useless if
the table leaks. A slow password hasher buys nothing for 240 random bits.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import string
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.db import connection, models, transaction
from django.utils import timezone

from accounts.limits import Limit, limit_check
from accounts.models import ApiKey, Membership, Organization, Scope, User
from accounts.roles import Role, role_at_least
from accounts.services.audit import audit_record
from asterweb.db import psycopg_connection
from asterweb.errors import ApplicationError, PermissionDeniedError

KEY_PREFIX = "ak_live_"
_ALPHABET = string.ascii_letters + string.digits
_LOOKUP_LENGTH = 10
_SECRET_LENGTH = 40

ROLE_SCOPES: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({Scope.READ}),
    Role.TRADER: frozenset({Scope.READ, Scope.TRADE}),
    Role.ADMIN: frozenset({Scope.READ, Scope.TRADE, Scope.ADMIN}),
    Role.OWNER: frozenset({Scope.READ, Scope.TRADE, Scope.ADMIN}),
}


class ApiKeyRejected(ApplicationError):
    """The presented key cannot be used; ``code`` says why (invalid, revoked, expired, ip_not_allowed)."""

    status_code = 401


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str  # the full key: shown to the person once, never stored


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def api_key_hash(raw_key: str) -> str:
    return hmac.new(settings.API_KEY_HMAC_SECRET.encode(), raw_key.encode(), hashlib.sha256).hexdigest()


def _new_secret() -> tuple[str, str]:
    """A fresh (prefix, full key)."""
    prefix = KEY_PREFIX + _random(_LOOKUP_LENGTH)
    return prefix, f"{prefix}_{_random(_SECRET_LENGTH)}"


def _secret_for_prefix(prefix: str) -> str:
    return f"{prefix}_{_random(_SECRET_LENGTH)}"


def effective_scopes(*, api_key_scopes: list[str] | frozenset[str] | None, role: str) -> frozenset[str]:
    """What a request may do: the key's scopes (all, for a browser session) within the role's."""
    allowed = ROLE_SCOPES[Role(role)]
    return allowed if api_key_scopes is None else allowed & frozenset(api_key_scopes)


def _clean_scopes(scopes: list[str], allowed: frozenset[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown or not scopes:
        raise ApplicationError(
            "Choose at least one scope: read, trade or admin.", fields={"scopes": ["Choose read, trade or admin."]}
        )
    _ensure_within(scopes, allowed)
    return [scope for scope in Scope.values if scope in scopes]


def _ensure_within(scopes: list[str], allowed: frozenset[str]) -> None:
    """A credential can only hand out what it holds itself (so a read key cannot mint an admin key)."""
    beyond = sorted(set(scopes) - allowed)
    if beyond:
        raise PermissionDeniedError(
            f"You cannot grant the {', '.join(beyond)} scope: it is beyond your role or this credential.",
            code="scope_not_grantable",
            fields={"scopes": ["Beyond what you may grant."]},
        )


def _clean_cidrs(cidrs: list[str]) -> list[str]:
    cleaned = []
    for cidr in cidrs:
        try:
            cleaned.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except ValueError as exc:
            raise ApplicationError(
                f"“{cidr}” is not an IP address or CIDR range.", fields={"allowed_cidrs": [f"Invalid: {cidr}"]}
            ) from exc
    return cleaned


def _beyond_parent(message: str, field: str) -> PermissionDeniedError:
    return PermissionDeniedError(message, code="beyond_parent_key", fields={field: [message]})


def _within_parent(parent: ApiKey, expires_at: datetime | None, cidrs: list[str]) -> tuple[datetime | None, list[str]]:
    """A key made with a key can neither outlive nor out-reach it: it expires no later than its
    parent (inheriting the parent's expiry when none is asked) and is usable only from networks
    inside the parent's allow-list (inheriting the list when none is given)."""
    if parent.expires_at is not None:
        if expires_at is None:
            expires_at = parent.expires_at
        elif expires_at > parent.expires_at:
            raise _beyond_parent(
                "A key created with an API key cannot outlive it: "
                f"expire it by {parent.expires_at:%Y-%m-%d %H:%M} UTC.",
                "expires_at",
            )
    if parent.allowed_cidrs:
        if not cidrs:
            return expires_at, list(parent.allowed_cidrs)
        parents = [ipaddress.ip_network(cidr) for cidr in parent.allowed_cidrs]
        outside = [
            cidr
            for cidr in cidrs
            if not any(
                network.version == ipaddress.ip_network(cidr).version and ipaddress.ip_network(cidr).subnet_of(network)
                for network in parents
            )
        ]
        if outside:
            raise _beyond_parent(
                f"A key created with an API key can only be used from within its allow-list; "
                f"outside it: {', '.join(outside)}.",
                "allowed_cidrs",
            )
    return expires_at, cidrs


def _ensure_may_manage(*, api_key: ApiKey, acting_key: ApiKey | None, role: str) -> None:
    """A key may rotate or revoke itself; managing any other key with a key needs the admin scope."""
    if acting_key is None or acting_key.pk == api_key.pk:
        return
    if Scope.ADMIN not in effective_scopes(api_key_scopes=acting_key.scopes, role=role):
        raise PermissionDeniedError(
            "An API key may only rotate or revoke itself; managing other keys needs the admin scope.",
            code="admin_scope_required",
        )


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    membership: Membership,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
    allowed_cidrs: list[str] | None = None,
    grantable_scopes: frozenset[str] | None = None,
    acting_key: ApiKey | None = None,
    created_with_second_factor: bool = False,
) -> IssuedKey:
    """Issue a key for the member in this organization. The returned secret is shown once.
    ``grantable_scopes`` limits the key further when the request itself is scoped (an API key);
    a key created with ``acting_key`` stays within its expiry and allow-list, and dies with it;
    ``created_with_second_factor`` says the creating credential passed a second factor, without
    which the key does not work in organizations that require 2FA."""
    name = name.strip()
    if not name:
        raise ApplicationError("Give the key a name.", fields={"name": ["This field is required."]})
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError("The expiry must be in the future.", fields={"expires_at": ["Must be in the future."]})
    allowed = effective_scopes(api_key_scopes=grantable_scopes, role=membership.role)
    if acting_key is not None:
        allowed &= frozenset(acting_key.scopes)
    clean_scopes = _clean_scopes(scopes, allowed)
    clean_cidrs = _clean_cidrs(allowed_cidrs or [])
    if acting_key is not None:
        expires_at, clean_cidrs = _within_parent(acting_key, expires_at, clean_cidrs)
    limit_check(organization=organization, user=membership.user, limit=Limit.API_KEYS_PER_MEMBER)
    prefix, secret = _new_secret()
    api_key = ApiKey.objects.create(
        organization=organization,
        user=membership.user,
        name=name,
        prefix=prefix,
        secret_hash=api_key_hash(secret),
        scopes=clean_scopes,
        allowed_cidrs=clean_cidrs,
        expires_at=expires_at,
        created_with_second_factor=created_with_second_factor,
        created_by_key=acting_key,
    )
    audit_record(
        action="api_key.created",
        organization=organization,
        actor=membership.user,
        target=api_key,
        details={
            "name": name,
            "prefix": prefix,
            "scopes": clean_scopes,
            "allowed_cidrs": clean_cidrs,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "created_with_second_factor": created_with_second_factor,
            "created_by_key": acting_key.prefix if acting_key else None,
        },
    )
    return IssuedKey(api_key=api_key, secret=secret)


@transaction.atomic
def api_key_rotate(
    *,
    organization: Organization,
    membership: Membership,
    api_key: ApiKey,
    grantable_scopes: frozenset[str] | None = None,
    acting_key: ApiKey | None = None,
) -> IssuedKey:
    """A new secret for the same key. The previous one keeps working for
    ``API_KEY_ROTATION_GRACE_HOURS`` so deployed programs can switch over. Safe to retry: while
    an earlier secret is still in its grace period it stays the previous one (with its deadline),
    so a client that timed out and rotates again is never cut off from the secret it runs with;
    only the secret the lost answer carried is replaced."""
    if api_key.user_id != membership.user_id:
        raise PermissionDeniedError("Only the key's owner can rotate it.")
    _ensure_may_manage(api_key=api_key, acting_key=acting_key, role=membership.role)
    _ensure_within(api_key.scopes, effective_scopes(api_key_scopes=grantable_scopes, role=membership.role))
    api_key = ApiKey.objects.for_org(organization).select_for_update().get(pk=api_key.pk)
    if not api_key.is_active:
        raise ApplicationError("A revoked or expired key cannot be rotated.", code="key_inactive")
    secret = _secret_for_prefix(api_key.prefix)
    now = timezone.now()
    if not (api_key.previous_secret_valid_until and api_key.previous_secret_valid_until > now):
        api_key.previous_secret_hash = api_key.secret_hash
        api_key.previous_secret_valid_until = now + timedelta(hours=settings.API_KEY_ROTATION_GRACE_HOURS)
    api_key.secret_hash = api_key_hash(secret)
    api_key.rotated_at = now
    api_key.save(update_fields=["previous_secret_hash", "previous_secret_valid_until", "secret_hash", "rotated_at"])
    audit_record(
        action="api_key.rotated",
        organization=organization,
        actor=membership.user,
        target=api_key,
        details={"prefix": api_key.prefix, "previous_valid_until": api_key.previous_secret_valid_until.isoformat()},
    )
    return IssuedKey(api_key=api_key, secret=secret)


@transaction.atomic
def api_key_revoke(
    *, organization: Organization, membership: Membership, api_key: ApiKey, acting_key: ApiKey | None = None
) -> ApiKey:
    """Its owner, or an organization admin, revokes a key: it stops working at once, and so do
    the keys created with it (and theirs)."""
    if api_key.user_id != membership.user_id and not role_at_least(membership.role, Role.ADMIN):
        raise PermissionDeniedError("Only the key's owner or an admin can revoke it.")
    _ensure_may_manage(api_key=api_key, acting_key=acting_key, role=membership.role)
    tree = _key_tree(organization=organization, root=api_key)
    _lock_keys(ApiKey.objects.for_org(organization).filter(pk__in=tree))
    api_key.refresh_from_db(fields=["revoked_at"])
    if api_key.revoked_at is None:
        _revoke(api_key, actor=membership.user, details={"owner": api_key.user.email})
    _revoke_descendants(organization=organization, descendant_ids=tree[1:], actor=membership.user)
    return api_key


def _lock_keys(keys: models.QuerySet[ApiKey], *, for_delete: bool = False) -> None:
    """Lock key rows, in id order, before the first audit. Auditing publishes an event, which holds
    the organization's event counter until commit, and rotating or revoking a key locks its row and
    then audits: taking key rows after the counter would let each wait for the other (a deadlock).
    FOR NO KEY UPDATE is the lock revoking (an UPDATE) takes anyway, only earlier; ``for_delete``
    takes FOR UPDATE, the lock a DELETE takes."""
    list(keys.select_for_update(no_key=not for_delete).order_by("pk").values_list("pk", flat=True))


def _key_tree(*, organization: Organization, root: ApiKey) -> list[int]:
    """The key and the active keys created with it (and theirs), parents before children: what
    revoking it touches."""
    ids, frontier = [root.pk], [root.pk]
    while frontier:
        frontier = list(
            ApiKey.objects.for_org(organization)
            .filter(created_by_key__in=frontier, revoked_at__isnull=True)
            .values_list("pk", flat=True)
        )
        ids += frontier
    return ids


def _revoke(api_key: ApiKey, *, actor: User | None, details: dict) -> None:
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])
    audit_record(
        action="api_key.revoked",
        organization=api_key.organization,
        actor=actor,
        target=api_key,
        details={"prefix": api_key.prefix, **details},
    )


def _revoke_descendants(*, organization: Organization, descendant_ids: list[int], actor: User | None) -> None:
    """Revoke the keys ``_key_tree`` found below a revoked key (locked already), parents first."""
    keys = (
        ApiKey.objects.for_org(organization)
        .filter(revoked_at__isnull=True)
        .select_related("user", "organization")
        .in_bulk(descendant_ids)
    )
    for key_id in descendant_ids:
        if key_id in keys:
            child = keys[key_id]
            _revoke(child, actor=actor, details={"owner": child.user.email, "reason": "parent_revoked"})


def api_keys_lock_for_member(*, organization: Organization, user: User) -> None:
    """Lock the member's active keys here (before auditing their departure, see ``_lock_keys``)."""
    _lock_keys(ApiKey.objects.for_org(organization).filter(user=user, revoked_at__isnull=True))


def api_keys_lock_for_user(*, user: User) -> None:
    """Lock every key the user holds, for deleting them (FOR UPDATE, the lock a DELETE takes),
    before anything is audited (see ``_lock_keys``)."""
    _lock_keys(ApiKey.objects.for_user(user), for_delete=True)


def api_keys_revoke_for_member(*, organization: Organization, user: User, actor: User | None) -> int:
    """Revoke every key a departing member holds in the organization."""
    keys = list(ApiKey.objects.for_org(organization).filter(user=user, revoked_at__isnull=True).order_by("pk"))
    for api_key in keys:
        api_key.organization = organization
        _revoke(api_key, actor=actor, details={"owner": user.email, "reason": "member_removed"})
    return len(keys)


def api_keys_active_count(*, user: User) -> int:
    """How many working keys the user holds, across their organizations."""
    now = timezone.now()
    return ApiKey.objects.for_user(user).filter(revoked_at__isnull=True).exclude(expires_at__lte=now).count()


@transaction.atomic
def api_keys_revoke_for_user(*, user: User, reason: str) -> int:
    """Revoke every key the user holds in every organization (offered after a password or 2FA
    reset, and on the security page): each is audited in its organization, the whole in the
    user's own history."""
    active = ApiKey.objects.for_user(user).filter(revoked_at__isnull=True)
    _lock_keys(active)
    keys = list(active.select_related("organization").order_by("pk"))
    for api_key in keys:
        _revoke(api_key, actor=user, details={"owner": user.email, "reason": reason})
    audit_record(action="api_key.revoked_all", actor=user, target=user, details={"count": len(keys), "reason": reason})
    return len(keys)


_DUMMY_HASH = "0" * 64


def _prefix_of(raw_key: str) -> str | None:
    if not raw_key.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = raw_key.rpartition("_")
    if not sep or len(prefix) != len(KEY_PREFIX) + _LOOKUP_LENGTH or len(secret) != _SECRET_LENGTH:
        return None
    return prefix


def _ip_allowed(api_key: ApiKey, ip: str | None) -> bool:
    if not api_key.allowed_cidrs:
        return True
    if ip is None:
        return False
    address = ipaddress.ip_address(ip)
    return any(address in ipaddress.ip_network(cidr) for cidr in api_key.allowed_cidrs)


def api_key_authenticate(*, raw_key: str, ip: str | None) -> ApiKey:
    """The active key a request presents, or ApiKeyRejected saying why it cannot be used."""
    prefix = _prefix_of(raw_key)
    api_key = _find_key(prefix) if prefix else None
    presented = api_key_hash(raw_key)
    now = timezone.now()
    current = hmac.compare_digest(presented, api_key.secret_hash if api_key else _DUMMY_HASH)
    previous = bool(
        api_key
        and api_key.previous_secret_hash
        and api_key.previous_secret_valid_until
        and api_key.previous_secret_valid_until > now
        and hmac.compare_digest(presented, api_key.previous_secret_hash)
    )
    if api_key is None or not (current or previous):
        raise ApiKeyRejected("Invalid API key.", code="invalid_api_key")
    if api_key.revoked_at is not None:
        raise ApiKeyRejected("This API key was revoked.", code="api_key_revoked")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise ApiKeyRejected("This API key has expired.", code="api_key_expired")
    if not api_key.user.is_active or api_key.organization.is_deleted:
        raise ApiKeyRejected("Invalid API key.", code="invalid_api_key")
    if not _ip_allowed(api_key, ip):
        raise PermissionDeniedError("This API key may not be used from your IP address.", code="ip_not_allowed")
    _note_use(api_key, ip, now)
    return api_key


_NOTE_EVERY_SECONDS = 60
_monotonic = time.monotonic  # a seam for tests that let a minute pass
# When this process last asked Redis about a key: skips the Redis round trip on most requests.
_noted_here: dict[int, float] = {}


def _note_use(api_key: ApiKey, ip: str | None, now: datetime) -> None:
    """Record last use at most once a minute per key, across processes (a Redis flag), without
    a database write or even a Redis call on most requests."""
    clock = _monotonic()
    if clock - _noted_here.get(api_key.pk, -_NOTE_EVERY_SECONDS) < _NOTE_EVERY_SECONDS:
        return
    _noted_here[api_key.pk] = clock
    if cache.add(f"api-key-used:{api_key.pk}", 1, timeout=_NOTE_EVERY_SECONDS):
        ApiKey.objects.for_org(api_key.organization).filter(pk=api_key.pk).update(last_used_at=now, last_used_ip=ip)
        api_key.last_used_at, api_key.last_used_ip = now, ip


@lru_cache(maxsize=1)
def _lookup_sql() -> tuple[str, tuple[int, int, int]]:
    """One query for a key with its user, organization and the user's membership there (NULLs
    when the user has left), built once. Every API request runs it, and on these machines
    compiling the equivalent ORM queries costs several times the query."""

    def columns(model: type, alias: str) -> list[str]:
        return [f'{alias}."{field.column}"' for field in model._meta.concrete_fields]

    key_columns, user_columns = columns(ApiKey, "k"), columns(User, "u")
    organization_columns, membership_columns = columns(Organization, "o"), columns(Membership, "m")
    # Names come from model metadata; the prefix is a bound parameter.
    sql = (
        f"SELECT {', '.join([*key_columns, *user_columns, *organization_columns, *membership_columns])} "  # noqa: S608
        f'FROM "{ApiKey._meta.db_table}" k '
        f'JOIN "{User._meta.db_table}" u ON u."id" = k."user_id" '
        f'JOIN "{Organization._meta.db_table}" o ON o."id" = k."organization_id" '
        f'LEFT JOIN "{Membership._meta.db_table}" m ON m."user_id" = k."user_id" '
        'AND m."organization_id" = k."organization_id" '
        'WHERE k."prefix" = %s LIMIT 1'
    )
    return sql, (len(key_columns), len(user_columns), len(organization_columns))


def _find_key(prefix: str) -> ApiKey | None:
    """The key with this prefix, its user and organization attached, and the user's membership
    of that organization as ``api_key.holder_membership`` (None once they left); one round trip."""
    sql, (key_count, user_count, organization_count) = _lookup_sql()
    with psycopg_connection() as raw, raw.cursor() as cursor:  # psycopg: no client-side composition
        cursor.execute(sql, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    user_at, organization_at = key_count, key_count + user_count
    membership_at = organization_at + organization_count
    api_key = ApiKey.from_db(connection.alias, None, row[:key_count])
    api_key.user = User.from_db(connection.alias, None, row[user_at:organization_at])
    api_key.organization = Organization.from_db(connection.alias, None, row[organization_at:membership_at])
    membership = None
    if row[membership_at] is not None:
        membership = Membership.from_db(connection.alias, None, row[membership_at:])
        membership.user, membership.organization = api_key.user, api_key.organization
    api_key.holder_membership = membership
    return api_key
