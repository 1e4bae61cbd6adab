import json

import pytest
import structlog
from django.urls import reverse

from asterweb.logging import redact_secrets, scrub_text


def _lines(output: str) -> list[dict]:
    lines = []
    for raw in output.splitlines():
        raw = raw.strip()
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


@pytest.mark.django_db
def test_request_lines_carry_request_user_and_org_ids_and_the_route_not_the_path(team, client_for, capsys):
    client = client_for(team.owner)
    capsys.readouterr()
    response = client.get(reverse("org_dashboard", args=[team.org.slug]), HTTP_X_REQUEST_ID="req-abc-123")
    assert response["X-Request-ID"] == "req-abc-123"
    lines = [line for line in _lines(capsys.readouterr().err) if line.get("event") == "request"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "req-abc-123"
    assert line["user_id"] == team.owner.pk
    assert line["org_id"] == team.org.pk
    assert line["route"] == "o/<slug:org_slug>/"
    assert line["status"] == 200


@pytest.mark.django_db
def test_a_forged_request_id_is_replaced(client, capsys):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_passwords_and_reset_keys_never_reach_the_log(client, capsys, team):
    secret_password = "Sup3r-Secret-Passw0rd-xyz"
    client.post(reverse("account_login"), {"login": team.owner.email, "password": secret_password})
    client.get("/accounts/password/reset/key/zz-set-password-key-abcdef/")
    client.get("/invitations/signed-invitation-token-abcdef/")
    output = capsys.readouterr()
    everything = output.out + output.err
    assert "auth.login_failed" in everything  # the failure was logged...
    assert secret_password not in everything  # ...without the password
    assert "set-password-key-abcdef" not in everything
    assert "signed-invitation-token-abcdef" not in everything


def test_secret_named_keys_are_redacted_at_any_depth():
    event = redact_secrets(
        None,
        "info",
        {"event": "x", "password": "p", "nested": {"api_key": "k", "fine": "v"}, "Authorization": "Bearer abc"},
    )
    assert event == {
        "event": "x",
        "password": "[redacted]",
        "nested": {"api_key": "[redacted]", "fine": "v"},
        "Authorization": "[redacted]",
    }


def test_bearer_tokens_and_api_keys_are_scrubbed_from_text():
    secret = "s3cr3t" * 6 + "abcd"
    text = f"calling with Bearer eyJhbGciOi and key ak_live_AbCdE12345_{secret} at /invitations/tok123/accept/"
    assert scrub_text(text) == (
        "calling with Bearer [redacted] and key ak_live_AbCdE12345_[redacted] at /invitations/[redacted]/accept/"
    )
    # The visible prefix alone is not a secret and stays readable (audit records name keys by it).
    assert scrub_text("revoked ak_live_AbCdE12345") == "revoked ak_live_AbCdE12345"


def test_structlog_lines_go_through_the_redaction(capsys):
    structlog.get_logger("test").info("connecting", private_key="0xdeadbeef", exchange="aster")
    err = capsys.readouterr().err
    line = _lines(err)[-1]
    assert line["private_key"] == "[redacted]"
    assert line["exchange"] == "aster"
