"""Server-side cost of authenticating a request's API key, beside a PBKDF2-hashed key.

Cases, all in one run against the configured database and Redis (dev settings by default):

- ``api_key_authenticate`` — the full path a request takes: parse the key, look its row up by
  prefix in PostgreSQL (warm connection), HMAC-SHA256 it, compare in constant time, check
  revocation/expiry/IP, and the Redis "used in the last minute" flag (one ``SET NX``).
- its two I/O parts alone (the prefix lookup, the Redis flag), to show where the time goes;
- the HMAC check alone (``api_key_hash`` + ``hmac.compare_digest``);
- the reference: the same key verified with Django's ``PBKDF2PasswordHasher`` through
  ``check_password`` at Django's default iterations, i.e. what storing keys like passwords
  would cost per request. It is ~10^5 times slower, so it gets fewer calls (BENCH_PBKDF2_N).

It runs in a separate, freshly migrated database (``bench.bench_database``, dropped afterwards)
holding a throwaway organization, user and membership, the measured key, and FILLER_KEYS other
keys so the prefix index is not trivially small. The Redis flag it sets is deleted at the end.

    python -m bench api_keys            # BENCH_API_KEY_N=10000, BENCH_PBKDF2_N=20
"""

from __future__ import annotations

import hmac
import os
import platform
import secrets
import string
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from bench import Timing, bench_database, human_duration, measure, setup_django, timing_table

if TYPE_CHECKING:
    from accounts.models import ApiKey

N = int(os.environ.get("BENCH_API_KEY_N", "10000"))
PBKDF2_N = int(os.environ.get("BENCH_PBKDF2_N", "20"))
FILLER_KEYS = 10_000
TARGET_SECONDS = 1e-3
CLIENT_IP = "203.0.113.9"
_ALPHABET = string.ascii_letters + string.digits


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


@contextmanager
def throwaway_key() -> Iterator[tuple[ApiKey, str]]:
    """A trader's read/trade key in a fresh organization; everything is deleted afterwards."""
    from django.core.cache import cache

    from accounts.models import ApiKey, Membership, Organization, Scope, User
    from accounts.roles import Role
    from accounts.services.api_keys import KEY_PREFIX, api_key_hash

    tag = secrets.token_hex(4)
    organization = Organization.objects.create(name=f"bench {tag}", slug=f"bench-{tag}")
    user = User.objects.create_user(f"bench-{tag}@bench.invalid")  # no usable password
    api_key = None
    try:
        Membership.objects.create(organization=organization, user=user, role=Role.TRADER)
        # The shape api_key_create issues: ak_live_<10 chars>_<40 chars>.
        prefix = KEY_PREFIX + _random(10)
        raw_key = f"{prefix}_{_random(40)}"
        api_key = ApiKey.objects.create(
            organization=organization,
            user=user,
            name="bench",
            prefix=prefix,
            secret_hash=api_key_hash(raw_key),
            scopes=[Scope.READ, Scope.TRADE],
        )
        fillers = (
            ApiKey(
                organization=organization,
                user=user,
                name=f"filler {index}",
                prefix=KEY_PREFIX + _random(10),
                secret_hash=secrets.token_hex(32),
                scopes=[Scope.READ],
            )
            for index in range(FILLER_KEYS)
        )
        ApiKey.objects.bulk_create(fillers, batch_size=1000)
        yield api_key, raw_key
    finally:
        if api_key is not None:
            cache.delete(f"api-key-used:{api_key.pk}")
        organization.delete()  # cascades to the membership and the key
        user.delete()


def _select_one(connection) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run() -> tuple[list[Timing], dict[str, str]]:
    """Measure every case; also return what they ran against."""
    setup_django()
    from django.conf import settings
    from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password, make_password
    from django.core.cache import cache
    from django.db import connection

    from accounts.services import api_keys
    from accounts.services.api_keys import api_key_authenticate, api_key_hash

    with bench_database(), throwaway_key() as (api_key, raw_key):
        stored_hash, prefix = api_key.secret_hash, api_key.prefix
        flag = f"api-key-used:{api_key.pk}"
        iterations = PBKDF2PasswordHasher.iterations
        # The same key stored as Django stores passwords (default hasher and iterations).
        pbkdf2_encoded = make_password(raw_key, hasher=PBKDF2PasswordHasher.algorithm)
        assert api_key_authenticate(raw_key=raw_key, ip=CLIENT_IP).pk == api_key.pk
        assert hmac.compare_digest(api_key_hash(raw_key), stored_hash)
        assert check_password(raw_key, pbkdf2_encoded)

        timings = [
            measure(
                "api_key_authenticate (full path)",
                lambda: api_key_authenticate(raw_key=raw_key, ip=CLIENT_IP),
                n=N,
                warmup=200,
            ),
            measure(
                "  of which: row lookup by prefix (one raw query)",
                lambda: api_keys._find_key(prefix),
                n=N,
                warmup=50,
            ),
            measure("  of which: Redis last-used flag", lambda: cache.add(flag, 1, timeout=60), n=N, warmup=50),
            measure("  floor: PostgreSQL round trip (SELECT 1)", lambda: _select_one(connection), n=N, warmup=50),
            measure(
                "HMAC-SHA256 check alone",
                lambda: hmac.compare_digest(api_key_hash(raw_key), stored_hash),
                n=N,
                warmup=100,
            ),
            measure(
                f"PBKDF2-SHA256 check_password ({iterations:,} it.)",
                lambda: check_password(raw_key, pbkdf2_encoded),
                n=PBKDF2_N,
                warmup=1,
            ),
        ]
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            postgres = cursor.fetchone()[0]
    context = {
        "settings": os.environ["DJANGO_SETTINGS_MODULE"],
        "python": platform.python_version(),
        "postgres": f"{postgres} ({connection.settings_dict.get('HOST') or 'local socket'})",
        "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        "cpu": f"{_cpu_model()}, {os.cpu_count()} cores",
        "load average (1 min) at the end": f"{os.getloadavg()[0]:.2f}",
    }
    return timings, context


def main() -> None:
    timings, context = run()
    full, _lookup, _flag, _round_trip, hmac_only, pbkdf2 = timings
    print("Server-side cost of verifying one API key (per call; lower is better)")
    print(", ".join(f"{key}: {value}" for key, value in context.items()))
    print()
    print(timing_table(timings))
    print()
    print("ratios (median):")
    print(f"  PBKDF2 / HMAC check alone      = {pbkdf2.median / hmac_only.median:>12,.0f}x")
    print(f"  PBKDF2 / full authenticate path = {pbkdf2.median / full.median:>12,.0f}x")
    verdict = "met" if full.median < TARGET_SECONDS else "MISSED"
    print(
        f"target: full path median under {human_duration(TARGET_SECONDS)}: {verdict} "
        f"({human_duration(full.median)}; {1 / full.median:,.0f} verifications/s on one core)"
    )
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        print("note: the machine was busy (load above its core count): the I/O rows include waiting for a CPU.")


if __name__ == "__main__":
    main()
