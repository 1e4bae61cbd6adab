"""Webhook signing secrets are encrypted at rest with rotatable Fernet keys (asterweb.crypto),
and never appear in the audit log or the logs."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from accounts.models import AuditEvent
from accounts.tests.webhook_receiver import start_receiver
from accounts.webhooks import delivery, services
from accounts.webhooks.models import WebhookEndpoint
from asterweb import crypto

OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_a_value_round_trips_and_the_stored_form_does_not_contain_it():
    token = crypto.encrypt("whsec_abc")
    assert "whsec_abc" not in token and crypto.decrypt(token) == "whsec_abc"


def test_keys_rotate_newest_first():
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        stored = crypto.encrypt("whsec_rotating")
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        assert crypto.decrypt(stored) == "whsec_rotating"  # old values still readable
        rewritten = crypto.reencrypt(stored)
        fresh = crypto.encrypt("whsec_new")
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):  # the old key dropped
        assert crypto.decrypt(rewritten) == "whsec_rotating" and crypto.decrypt(fresh) == "whsec_new"
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(stored)
    # Independently of our helper: the new key alone opens what was re-encrypted.
    assert Fernet(NEW_KEY.encode()).decrypt(rewritten.encode()) == b"whsec_rotating"


def test_missing_or_malformed_keys_are_a_configuration_error():
    with override_settings(FIELD_ENCRYPTION_KEYS=[]), pytest.raises(ImproperlyConfigured):
        crypto.encrypt("x")
    with override_settings(FIELD_ENCRYPTION_KEYS=["not-a-fernet-key"]), pytest.raises(ImproperlyConfigured):
        crypto.encrypt("x")


@pytest.mark.django_db
def test_the_secret_is_in_no_audit_record_and_no_log_line(team, caplog, capsys):
    receiver = start_receiver()
    try:
        issued = services.webhook_endpoint_create(organization=team.org, actor=team.admin, url=receiver.url)
        rotated = services.webhook_endpoint_rotate_secret(
            organization=team.org, actor=team.admin, endpoint=issued.endpoint
        )
        services.webhook_send_test_event(organization=team.org, actor=team.admin, endpoint=issued.endpoint)
        delivery.webhook_deliveries_send_due()
    finally:
        receiver.close()

    assert len(receiver.requests) == 1
    stored = WebhookEndpoint.objects.for_org(team.org).values().get()
    audit = list(AuditEvent.objects.for_org(team.org).values())
    output = caplog.text + "".join(capsys.readouterr())
    for secret in (issued.secret, rotated.secret):
        assert secret not in str(stored) and secret not in str(audit) and secret not in output
    assert {row["action"] for row in audit} >= {
        "webhook_endpoint.created",
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint.test_sent",
    }


SLACK_STYLE_PATH = "/services/T0000/B0000/XXXXsecretXXXXtokenXXXX"


@pytest.mark.django_db
def test_the_audit_log_keeps_a_webhook_urls_host_never_its_path(team):
    """Slack-style URLs are secrets: audit records (kept forever) hold only the host."""
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    from accounts.tests.factories import UserFactory

    issued = services.webhook_endpoint_create(
        organization=team.org, actor=team.admin, url=f"http://127.0.0.1:9{SLACK_STYLE_PATH}"
    )
    services.webhook_endpoint_update(
        organization=team.org, actor=team.admin, endpoint=issued.endpoint, url=f"http://127.0.0.1:9{SLACK_STYLE_PATH}2"
    )
    endpoint = WebhookEndpoint.objects.for_org(team.org).get()
    # What the admin site writes when support staff change the endpoint (object_repr is str(obj)).
    LogEntry.objects.create(
        user=UserFactory(is_staff=True),
        content_type=ContentType.objects.get_for_model(WebhookEndpoint),
        object_id=str(endpoint.pk),
        object_repr=str(endpoint),
        action_flag=CHANGE,
        change_message="[]",
    )

    audit = list(AuditEvent.objects.for_org(team.org).values())
    assert {row["action"] for row in audit} >= {"webhook_endpoint.created", "webhook_endpoint.updated", "admin.changed"}
    assert "XXXXsecretXXXXtokenXXXX" not in str(audit)
    created = next(row for row in audit if row["action"] == "webhook_endpoint.created")
    assert created["details"]["host"] == "127.0.0.1:9"
    assert created["target_label"].startswith("127.0.0.1:9")
    updated = next(row for row in audit if row["action"] == "webhook_endpoint.updated")
    assert updated["details"]["host"] == {"from": "127.0.0.1:9", "to": "127.0.0.1:9"}
