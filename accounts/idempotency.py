"""Idempotent POSTs, as Stripe does them.

A POST that creates something may carry ``Idempotency-Key``. Within one organization and
credential, the first response (2xx or 4xx) is stored in the same transaction that does the
work; a repeat with the same request gets the stored response back; the same key with a
different request is a 409; a repeat while the first is still running is a 409 (a
transaction-scoped advisory lock, so a crashed request leaves nothing behind). Not stored,
so a retry runs again: 5xx responses and unexpected errors, and the 4xx answers about the
moment rather than the request (``TRANSIENT_STATUSES``: re-authentication required, a
conflict with the current state, a rate limit). Records expire after
``IDEMPOTENCY_KEY_TTL_HOURS``.

The view runs inside that one database transaction, so idempotent views must not call
out to other services before it commits (use ``transaction.on_commit``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from accounts.models import IdempotencyRecord, Organization
from asterweb.errors import ApplicationError, ConflictError

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_MAX_KEY_LENGTH = 255
# Answers a retry may well change: credentials or a re-authentication (401, 403), the state of
# other rows (409, 423), the clock (408, 425, 429). A stored one would repeat for 24 hours.
TRANSIENT_STATUSES = frozenset({401, 403, 408, 409, 423, 425, 429})


def response_is_stored(status: int) -> bool:
    """Whether an idempotent request's answer is kept for replay (2xx and lasting 4xx)."""
    return status < 500 and status not in TRANSIENT_STATUSES


def idempotency_key_from(headers: dict[str, str]) -> str | None:
    key = headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > _MAX_KEY_LENGTH or not key.isprintable():
        raise ApplicationError(
            f"{HEADER} must be 1 to {_MAX_KEY_LENGTH} printable characters.", code="invalid_idempotency_key"
        )
    return key


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b"\n" + path.encode() + b"\n" + body).hexdigest()


def _try_lock(organization: Organization, credential: str, key: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"idempotency:{organization.pk}:{credential}:{key}"],
        )
        return cursor.fetchone()[0]


def _stored_body(response: Response, secret_fields: tuple[str, ...]) -> object:
    """The response as JSON, with one-time secrets (a new API key) replaced by null: a replay
    must not show a secret a second time, and the database must never hold it."""
    if response.data is None:
        return None
    body = json.loads(JSONRenderer().render(response.data))
    if isinstance(body, dict):
        for field in secret_fields:
            if field in body:
                body[field] = None
    return body


def idempotent_response(
    *,
    organization: Organization,
    credential: str,
    key: str,
    fingerprint: str,
    run: Callable[[], Response],
    secret_fields: tuple[str, ...] = (),
) -> Response:
    """Run ``run`` at most once per (organization, credential, key) within the TTL."""
    with transaction.atomic():
        if not _try_lock(organization, credential, key):
            raise ConflictError(
                "A request with this Idempotency-Key is still being processed. Retry later.",
                code="idempotency_in_progress",
            )
        records = IdempotencyRecord.objects.for_org(organization).filter(credential=credential, key=key)
        expired_before = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
        records.filter(created_at__lt=expired_before).delete()
        existing = records.first()
        if existing is not None:
            if existing.request_fingerprint != fingerprint:
                raise ConflictError(
                    "This Idempotency-Key was already used with a different request.", code="idempotency_key_reused"
                )
            return Response(existing.response_body, status=existing.response_status, headers={REPLAYED_HEADER: "true"})
        response = run()
        if response.status_code >= 500:
            transaction.set_rollback(True)
            return response
        if not response_is_stored(response.status_code):
            return response
        IdempotencyRecord.objects.create(
            organization=organization,
            credential=credential,
            key=key,
            request_fingerprint=fingerprint,
            response_status=response.status_code,
            response_body=_stored_body(response, secret_fields),
        )
        return response


def idempotency_records_purge() -> int:
    """Delete records past their TTL, across organizations (a system job)."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.all_objects.filter(created_at__lt=cutoff).delete()
    return deleted
