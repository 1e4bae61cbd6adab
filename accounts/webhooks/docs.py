"""Code shown on the public webhook documentation page (/docs/webhooks/).

``VERIFY_SNIPPET`` is rendered verbatim on the page and executed by the tests against real
deliveries, so the documented recipe is known to verify what the server sends.
"""

VERIFY_SNIPPET = '''\
import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300  # refuse requests signed more than 5 minutes ago (or ahead)


def verify_asterai_signature(payload: bytes, header: str, secret: str,
                             tolerance: int = TOLERANCE_SECONDS) -> bool:
    """True when `header` (the AsterAI-Signature request header) is a valid, recent
    signature of `payload` (the raw request body, as received) with `secret`
    (the endpoint's signing secret, "whsec_...")."""
    pairs = [part.strip().partition("=") for part in header.split(",")]
    timestamps = [value for key, _, value in pairs if key == "t"]
    signatures = [value for key, _, value in pairs if key == "v1"]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not signatures:
        return False
    timestamp = int(timestamps[0])
    if abs(time.time() - timestamp) > tolerance:
        return False
    signed = str(timestamp).encode() + b"." + payload
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    # Any v1 may match: while a rotated secret is still valid, both are sent.
    return any(hmac.compare_digest(expected, signature) for signature in signatures)
'''

DJANGO_VIEW_SNIPPET = """\
import json

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

ASTERAI_WEBHOOK_SECRET = "whsec_..."  # from your settings or secret store, never from code


@csrf_exempt
@require_POST
def asterai_webhook(request):
    signature = request.headers.get("AsterAI-Signature", "")
    if not verify_asterai_signature(request.body, signature, ASTERAI_WEBHOOK_SECRET):
        return HttpResponse(status=400)
    event = json.loads(request.body)
    if already_handled(event["id"]):  # deliveries can repeat: make handling idempotent
        return HttpResponse(status=200)
    handle(event["type"], event["data"])  # keep this quick, or queue it
    return HttpResponse(status=200)
"""
