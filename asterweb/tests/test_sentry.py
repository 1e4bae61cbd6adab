"""What reaches Sentry goes through the logs' redaction: frame locals (including ones whose names do
not say they hold a secret: ``raw_key``, ``credential``, ``header``, ``text``), the request (URL
paths and query strings that carry tokens, headers, cookies) and breadcrumbs (log lines, outbound
URLs). Events are caught by a capturing transport in this process: the real SDK, the real
serializer, nothing sent anywhere."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from wsgiref.util import setup_testing_defaults

import pytest
import sentry_sdk
from django.core.wsgi import get_wsgi_application
from django.urls import reverse
from sentry_sdk.transport import Transport

from accounts.tests.api_helpers import issue_key
from asterweb import crypto
from asterweb.sentry import sentry_init
from trading.exchanges.credentials import ExchangeCredentials


class CapturingTransport(Transport):
    def __init__(self) -> None:
        super().__init__({"dsn": "https://public@sentry.invalid/1"})
        self.envelopes: list = []

    def capture_envelope(self, envelope) -> None:
        self.envelopes.append(envelope)

    def events(self) -> list[dict]:
        return [item.payload.json for envelope in self.envelopes for item in envelope.items if item.type == "event"]

    def everything(self) -> str:
        return "\n".join(envelope.serialize().decode("utf-8", "replace") for envelope in self.envelopes)


@pytest.fixture
def sentry():
    transport = CapturingTransport()
    sentry_init(dsn="https://public@sentry.invalid/1", environment="test", transport=transport)
    for scope in (sentry_sdk.get_isolation_scope(), sentry_sdk.get_current_scope()):
        scope.clear_breadcrumbs()  # other tests' requests leave theirs behind
    yield transport
    sentry_sdk.init()  # no DSN: nothing is captured any more


def wsgi_get(path: str, query: str = "", **headers: str) -> str:
    """A request through Django's WSGI handler, as gunicorn makes it (the test client skips the
    WSGI layer, which is where the SDK reads the URL and headers); returns the status line."""
    environ = {"PATH_INFO": path, "QUERY_STRING": query, "HTTP_HOST": "testserver", **headers}
    setup_testing_defaults(environ)
    statuses = []
    body = get_wsgi_application()(environ, lambda status, _headers, *_: statuses.append(status))
    b"".join(body)
    return statuses[0]


def frame_vars(event: dict, function: str) -> dict:
    for value in event["exception"]["values"]:
        for frame in value["stacktrace"]["frames"]:
            if frame["function"] == function:
                return frame.get("vars") or {}
    raise AssertionError(f"no frame of {function}")


@pytest.mark.django_db
def test_api_key_locals_are_redacted_in_events(sentry, team, monkeypatch):
    issued = issue_key(team.org, team.viewer)
    secret_part = issued.secret.rsplit("_", 1)[1]

    def broken_lookup(prefix):
        raise RuntimeError("lookup failed")

    monkeypatch.setattr("accounts.services.api_keys._find_key", broken_lookup)
    url = reverse("organization-detail", kwargs={"org_slug": team.org.slug})
    assert wsgi_get(url, HTTP_AUTHORIZATION=f"Bearer {issued.secret}").startswith("500")
    (event,) = sentry.events()
    authenticate = frame_vars(event, "authenticate")
    assert authenticate["scheme"] == "'Bearer'"  # locals are still sent, for debugging...
    assert "credential" in authenticate and "header" in authenticate
    assert "raw_key" in frame_vars(event, "api_key_authenticate")
    assert secret_part not in sentry.everything()  # ...without the key's secret anywhere


def test_decrypted_credentials_in_locals_are_redacted(sentry):
    secret = secrets.token_hex(12)  # made here, so not even the test's source lines show it
    stored = crypto.encrypt(json.dumps({"kind": "api_key", "api_key": "AK-public", "secret": secret}))
    try:
        ExchangeCredentials.from_json(crypto.decrypt(stored) + "garbage")
    except ValueError:
        sentry_sdk.capture_exception()
    (event,) = sentry.events()
    assert "text" in frame_vars(event, "from_json")
    assert secret not in sentry.everything()


@pytest.mark.django_db
def test_token_bearing_urls_are_redacted_in_the_request(sentry, monkeypatch):
    from allauth.account.views import PasswordResetFromKeyView

    def broken(*args, **kwargs):
        raise RuntimeError("reset page failed")

    monkeypatch.setattr(PasswordResetFromKeyView, "dispatch", broken)
    key, token = secrets.token_hex(10), secrets.token_hex(10)
    assert wsgi_get(f"/accounts/password/reset/key/4-{key}/", f"token={token}&page=2").startswith("500")
    event = next(e for e in sentry.events() if e.get("exception"))
    assert event["request"]["url"].startswith("http://testserver/accounts/password/reset/key/")
    assert "page=2" in event["request"]["query_string"]
    everything = sentry.everything()
    assert key not in everything and token not in everything


class _Receiver(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_breadcrumbs_are_redacted(sentry):
    path_secret, query_secret, key = (secrets.token_hex(10) for _ in range(3))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        # A Slack-style webhook URL: the path is the secret.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/services/T0/B0/{path_secret}?sig={query_secret}") as r:
            assert r.read() == b"ok"
    finally:
        server.shutdown()
        server.server_close()
    logging.getLogger("somewhere").warning("sent a reset link /accounts/password/reset/key/9-%s/", key)
    sentry_sdk.capture_message("something happened")
    (event,) = sentry.events()
    crumbs = event["breadcrumbs"]["values"]
    http = next(c for c in crumbs if c.get("type") == "http")
    assert http["data"]["url"] == f"http://127.0.0.1:{port}/"  # the host is kept
    assert any("sent a reset link" in (c.get("message") or "") for c in crumbs)
    everything = sentry.everything()
    for secret in (path_secret, query_secret, key):
        assert secret not in everything
