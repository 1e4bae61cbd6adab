"""Encryption at rest for secrets the application must read back (webhook signing secrets,
exchange credentials), with Fernet keys from ``settings.FIELD_ENCRYPTION_KEYS``.

The first key encrypts; every key decrypts (``MultiFernet``), so keys rotate by putting a new
key first, re-encrypting stored values with ``reencrypt`` and, once done, dropping the old key.
Secrets that are only ever *verified* (API keys, passwords) are hashed instead, never stored here.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["DecryptionError", "decrypt", "encrypt", "reencrypt"]


class DecryptionError(RuntimeError):
    """A stored value cannot be decrypted with any configured key (a key was dropped too early,
    or the value was tampered with)."""


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: set at least one Fernet key.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:  # the message names no key material
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key (32 url-safe base64-encoded bytes)."
        ) from exc


def _fernet() -> MultiFernet:
    # Keyed by the current setting, so override_settings and key rotation take effect at once.
    return _multifernet(tuple(key.strip() for key in settings.FIELD_ENCRYPTION_KEYS if key.strip()))


def encrypt(value: str) -> str:
    """Encrypt ``value`` with the newest key; the result is ASCII, safe for a text column."""
    return _fernet().encrypt(value.encode()).decode("ascii")


def decrypt(token: str) -> str:
    """The plain text of a value ``encrypt`` produced, with whichever configured key made it."""
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except InvalidToken as exc:
        raise DecryptionError("A stored secret could not be decrypted with any configured key.") from exc


def reencrypt(token: str) -> str:
    """The same plain text encrypted with the newest key (for key rotation)."""
    try:
        return _fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise DecryptionError("A stored secret could not be decrypted with any configured key.") from exc
