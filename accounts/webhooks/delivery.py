"""Sending webhook deliveries: claim due rows, sign, POST, record the outcome, schedule retries.

Workers (the beat sweep, and a sweep enqueued on every emit) claim due deliveries with
``SELECT ... FOR UPDATE SKIP LOCKED``. The claiming transaction bumps ``attempts`` and pushes
``next_attempt_at`` out by a lease longer than any request can take, so no other worker can
claim the same attempt; the outcome is then written only if the row still carries that attempt
number. A failed attempt is retried with exponential backoff and jitter until 24 hours after
the first attempt, then the delivery is failed. An endpoint whose attempts have failed
continuously for 3 days is disabled and the organization's admins and owners are emailed.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import random
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Organization
from accounts.roles import Role
from accounts.services.audit import audit_record
from accounts.webhooks import ssrf
from accounts.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from asterweb import crypto

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "AsterAI-Signature"
EVENT_ID_HEADER = "AsterAI-Event-Id"
USER_AGENT = "AsterAI-Webhooks/1.0"
RESPONSE_BODY_LIMIT = 2048
RETRY_WINDOW = timedelta(hours=24)
DISABLE_AFTER = timedelta(days=3)
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 6 * 3600
CLAIM_BATCH_SIZE = 10
SWEEP_BUDGET_SECONDS = 45


def _lease() -> timedelta:
    """How long a claim holds a delivery: longer than any one request may take, with room to record."""
    return timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT_SECONDS + 30)


# --- the wire format ---------------------------------------------------------------------


def event_payload(event: WebhookEvent) -> bytes:
    """The request body: ``{"id", "type", "created", "data"}`` as compact JSON."""
    payload = {"id": event.id, "type": event.type, "created": int(event.created_at.timestamp()), "data": event.data}
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False).encode()


def signature_header(*, secrets: list[str], timestamp: int, body: bytes) -> str:
    """``t=<unix>,v1=<hex>`` with one ``v1`` per signing secret (two while a rotated one is valid)."""
    signed = f"{timestamp}.".encode() + body
    signatures = [hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest() for secret in secrets]
    return ",".join([f"t={timestamp}", *(f"v1={signature}" for signature in signatures)])


def endpoint_signing_secrets(endpoint: WebhookEndpoint, *, now: datetime) -> list[str]:
    secrets = [crypto.decrypt(endpoint.secret_encrypted)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and expires > now:
        secrets.append(crypto.decrypt(endpoint.previous_secret_encrypted))
    return secrets


# --- one HTTP request ----------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status: int | None = None
    latency_ms: int | None = None
    body: str = ""
    error: str = ""


class _PinnedAddress:
    """Connects to the address the SSRF check approved, whatever the host name resolves to now.
    The host name still goes in the Host header and, for HTTPS, in SNI and the certificate check."""

    def __init__(self, destination: ssrf.Destination, *, connect_timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=connect_timeout)  # type: ignore[call-arg]
        self._pinned = (destination.address, destination.port)
        self._create_connection = self._connect_pinned

    def _connect_pinned(self, _address: object, timeout: float, source_address: object = None) -> socket.socket:
        return socket.create_connection(self._pinned, timeout, source_address)


class _PinnedHTTPConnection(_PinnedAddress, http.client.HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedAddress, http.client.HTTPSConnection):
    pass


def _abort(connection: http.client.HTTPConnection, fired: threading.Event) -> None:
    """The total deadline passed: wake the blocked read (a server trickling bytes cannot hold a worker)."""
    fired.set()
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def http_post(*, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
    """POST ``body`` to ``url`` after the SSRF check, to the checked address, following no redirects.
    Network failures are results, not exceptions: they are what retries are for."""
    started = time.monotonic()
    try:
        destination = ssrf.destination_resolve(url)
    except ssrf.UnsafeDestination as error:
        return SendResult(ok=False, error=error.detail)
    total = settings.WEBHOOK_TIMEOUT_SECONDS
    connect_timeout = min(settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS, total)
    connection_class = _PinnedHTTPSConnection if destination.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(destination, connect_timeout=connect_timeout)
    deadline_passed = threading.Event()
    watchdog = threading.Timer(total, _abort, args=(connection, deadline_passed))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.connect()
        connection.sock.settimeout(max(total - (time.monotonic() - started), 0.01))
        connection.request("POST", destination.target, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read(RESPONSE_BODY_LIMIT).decode("utf-8", errors="replace")
    except (OSError, http.client.HTTPException) as exc:
        elapsed = time.monotonic() - started
        timed_out = isinstance(exc, TimeoutError) or deadline_passed.is_set()
        error = f"Timed out after {elapsed:.1f} s." if timed_out else f"Connection failed: {_describe(exc)}"
        return SendResult(ok=False, latency_ms=round(elapsed * 1000), error=error)
    finally:
        watchdog.cancel()
        connection.close()
    latency_ms = round((time.monotonic() - started) * 1000)
    if deadline_passed.is_set():  # the cut-off connection can look like a complete, short response
        return SendResult(ok=False, latency_ms=latency_ms, error=f"Timed out after {latency_ms / 1000:.1f} s.")
    status = response.status
    if 200 <= status < 300:
        return SendResult(ok=True, status=status, latency_ms=latency_ms, body=text)
    if 300 <= status < 400:
        error = f"HTTP {status}: redirects are not followed; point the endpoint at the final URL."
    else:
        error = f"HTTP {status}."
    return SendResult(ok=False, status=status, latency_ms=latency_ms, body=text, error=error)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]


# --- claiming and recording ----------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    attempt: int


def webhook_deliveries_claim(*, limit: int = CLAIM_BATCH_SIZE) -> list[Claim]:
    """Claim up to ``limit`` due deliveries across organizations (a system job): rows other
    workers hold are skipped, and each claimed row's attempt is counted and leased at once."""
    with transaction.atomic():
        now = timezone.now()
        due = list(
            WebhookDelivery.all_objects.select_for_update(skip_locked=True)
            .filter(state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "pk")[:limit]
        )
        for delivery in due:
            delivery.attempts += 1
            delivery.last_attempt_at = now
            delivery.first_attempt_at = delivery.first_attempt_at or now
            delivery.next_attempt_at = now + _lease()
        WebhookDelivery.all_objects.bulk_update(
            due, ["attempts", "last_attempt_at", "first_attempt_at", "next_attempt_at"]
        )
    return [Claim(delivery_id=delivery.pk, attempt=delivery.attempts) for delivery in due]


@dataclass(frozen=True)
class _Prepared:
    claim: Claim
    url: str
    body: bytes
    headers: dict[str, str]


def _prepare(claim: Claim) -> _Prepared | None:
    delivery = (
        WebhookDelivery.all_objects.select_related("event", "endpoint")
        .filter(pk=claim.delivery_id, attempts=claim.attempt, state=WebhookDelivery.State.PENDING)
        .first()
    )
    if delivery is None:  # deleted with its endpoint, or already settled
        return None
    endpoint = delivery.endpoint
    if not endpoint.active:
        _settle(claim, SendResult(ok=False, error="The endpoint is disabled."), final=True)
        return None
    now = timezone.now()
    try:
        signing_secrets = endpoint_signing_secrets(endpoint, now=now)
    except crypto.DecryptionError:  # FIELD_ENCRYPTION_KEYS lost the key: an operator must act
        log.error("webhook_secret_undecryptable", endpoint_id=endpoint.pk, exc_info=True)
        _settle(claim, SendResult(ok=False, error="The signing secret could not be read (server configuration)."))
        return None
    body = event_payload(delivery.event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"{USER_AGENT} (+{settings.SITE_URL}{reverse('webhooks_docs')})",
        EVENT_ID_HEADER: delivery.event_id,
        SIGNATURE_HEADER: signature_header(secrets=signing_secrets, timestamp=int(now.timestamp()), body=body),
    }
    return _Prepared(claim=claim, url=endpoint.url, body=body, headers=headers)


def retry_delay(attempt: int) -> timedelta:
    """Exponential backoff with jitter: about 30 s after the first failure, doubling, at most 6 h."""
    ceiling = min(BACKOFF_BASE_SECONDS * 2 ** (attempt - 1), BACKOFF_CAP_SECONDS)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def _settle(claim: Claim, result: SendResult, *, final: bool = False) -> None:
    """Write the attempt's outcome, unless the claim lapsed and another worker took the row."""
    disabled: WebhookEndpoint | None = None
    with transaction.atomic():
        delivery = (
            WebhookDelivery.all_objects.select_for_update()
            .filter(pk=claim.delivery_id, attempts=claim.attempt, state=WebhookDelivery.State.PENDING)
            .first()
        )
        if delivery is None:
            log.warning("webhook_claim_lapsed", delivery_id=claim.delivery_id, attempt=claim.attempt)
            return
        now = timezone.now()
        delivery.response_status = result.status
        delivery.latency_ms = result.latency_ms
        delivery.response_body = result.body[:RESPONSE_BODY_LIMIT]
        delivery.error = result.error[:500]
        if result.ok:
            delivery.state, delivery.next_attempt_at = WebhookDelivery.State.SUCCEEDED, None
        else:
            give_up_at = (delivery.first_attempt_at or now) + RETRY_WINDOW
            if final or now >= give_up_at:
                delivery.state, delivery.next_attempt_at = WebhookDelivery.State.FAILED, None
            else:
                delivery.next_attempt_at = min(now + retry_delay(delivery.attempts), give_up_at)
        if not final:
            disabled = _note_endpoint_health(delivery, ok=result.ok, now=now)
        if disabled is not None:
            delivery.state, delivery.next_attempt_at = WebhookDelivery.State.FAILED, None
        delivery.save(
            update_fields=["state", "next_attempt_at", "response_status", "latency_ms", "response_body", "error"]
        )
    log.info(
        "webhook_attempt",
        delivery_id=claim.delivery_id,
        attempt=claim.attempt,
        ok=result.ok,
        status=result.status,
        latency_ms=result.latency_ms,
        state=delivery.state,
    )
    if disabled is not None:
        log.warning("webhook_endpoint_disabled", endpoint_id=disabled.pk)


def _note_endpoint_health(delivery: WebhookDelivery, *, ok: bool, now: datetime) -> WebhookEndpoint | None:
    """Track the endpoint's run of failures; after DISABLE_AFTER of nothing but failures, disable
    it, fail its other pending deliveries and tell its admins. Returns the endpoint if disabled."""
    endpoints = WebhookEndpoint.all_objects.filter(pk=delivery.endpoint_id)
    if ok:
        endpoints.filter(failing_since__isnull=False).update(failing_since=None)
        return None
    endpoints.filter(failing_since__isnull=True).update(failing_since=now)
    # NO KEY: publishers queue deliveries to it (FOR KEY SHARE) while holding the event counter
    # the audit below needs; FOR UPDATE would deadlock with them.
    endpoint = endpoints.select_for_update(no_key=True, of=("self",)).select_related("organization").first()
    if endpoint is None or not endpoint.active or endpoint.failing_since > now - DISABLE_AFTER:
        return None
    endpoint.active = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = f"Every delivery attempt failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC."
    endpoint.save(update_fields=["active", "disabled_at", "disabled_reason"])
    # Rows other workers are settling are skipped (waiting for them could deadlock): their next
    # claim finds the endpoint disabled and fails them.
    others = (
        WebhookDelivery.all_objects.select_for_update(skip_locked=True)
        .filter(endpoint=endpoint, state=WebhookDelivery.State.PENDING)
        .exclude(pk=delivery.pk)
        .values_list("pk", flat=True)
    )
    WebhookDelivery.all_objects.filter(pk__in=list(others)).update(
        state=WebhookDelivery.State.FAILED, next_attempt_at=None, error="The endpoint was disabled."
    )
    audit_record(
        action="webhook_endpoint.disabled",
        organization=endpoint.organization,
        target=endpoint,
        details={"host": endpoint.host, "failing_since": endpoint.failing_since.isoformat()},
    )
    transaction.on_commit(lambda: _email_admins_endpoint_disabled(endpoint))
    return endpoint


def _email_admins_endpoint_disabled(endpoint: WebhookEndpoint) -> None:
    organization: Organization = endpoint.organization
    recipients = (
        Membership.objects.for_org(organization)
        .filter(role__in=[Role.ADMIN, Role.OWNER], user__is_active=True)
        .select_related("user")
    )
    context = {
        "organization": organization,
        "endpoint": endpoint,
        "url": settings.SITE_URL + reverse("webhook_list", args=[organization.slug]),
    }
    message = render_to_string("webhooks/email/endpoint_disabled.txt", context)
    for membership in recipients:
        send_mail(
            subject=f"[AsterAI] A webhook endpoint of {organization.name} was disabled",
            message=message,
            from_email=None,
            recipient_list=[membership.user.email],
        )


# --- the sweep -----------------------------------------------------------------------------


def _send(prepared: _Prepared) -> tuple[_Prepared, SendResult]:
    return prepared, http_post(url=prepared.url, body=prepared.body, headers=prepared.headers)


def webhook_deliveries_send_due(
    *,
    batch_size: int = CLAIM_BATCH_SIZE,
    budget_seconds: float = SWEEP_BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Claim and send due deliveries, a batch at a time (each batch's requests in parallel),
    until none are due or the time budget is spent. Returns the number of attempts made."""
    deadline = clock() + budget_seconds
    attempted = 0
    while clock() < deadline:
        claims = webhook_deliveries_claim(limit=batch_size)
        if not claims:
            break
        prepared = [item for item in map(_prepare, claims) if item is not None]
        if prepared:
            with ThreadPoolExecutor(max_workers=len(prepared), thread_name_prefix="webhook") as pool:
                results = list(pool.map(_send, prepared))
            for item, result in results:
                _settle(item.claim, result)
        attempted += len(claims)
    return attempted
