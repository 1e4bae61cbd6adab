"""HTTPS deliveries connect to the address the SSRF check approved while still verifying the
certificate against the URL's host name (sent as SNI). The receiver is a real TLS server on
loopback with a certificate from a throwaway CA that the test trusts."""

from __future__ import annotations

import datetime
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from accounts.tests.webhook_receiver import start_receiver
from accounts.webhooks import delivery, services, ssrf
from accounts.webhooks.models import WebhookDelivery
from asterweb.events import event_publish

pytestmark = pytest.mark.django_db


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, issuer: str, public_key, signing_key, *, ca: bool, dns_name: str | None = None):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if dns_name:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture
def tls(monkeypatch, tmp_path):
    """A CA the client trusts (only in this test), and a TLS receiver whose certificate names
    hooks.example.test; the SNI name the server saw is recorded."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("Test CA", "Test CA", ca_key.public_key(), ca_key, ca=True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(
        "hooks.example.test", "Test CA", leaf_key.public_key(), ca_key, ca=False, dns_name="hooks.example.test"
    )
    directory = tmp_path
    (directory / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (directory / "leaf.key").write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM).decode()

    monkeypatch.setattr(ssl, "_create_default_https_context", lambda: ssl.create_default_context(cadata=ca_pem))

    receiver = start_receiver()
    server_names: list[str | None] = []
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(directory / "leaf.pem", directory / "leaf.key")
    server_context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    server = receiver._server
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    yield receiver, server_names
    receiver.close()


@pytest.fixture
def dns(monkeypatch):
    records: dict[str, str] = {}
    monkeypatch.setattr(
        ssrf,
        "_getaddrinfo",
        lambda host, port, *a, **k: [(2, 1, 6, "", (records[host], port))],
    )
    return records


def _deliver(team, url: str) -> WebhookDelivery:
    services.webhook_endpoint_create(organization=team.org, actor=team.admin, url=url)
    event_publish(organization=team.org, type="member.added", data={})
    delivery.webhook_deliveries_send_due()
    return WebhookDelivery.objects.for_org(team.org).get()


def test_https_goes_to_the_checked_address_and_verifies_the_host_name(team, tls, dns):
    receiver, server_names = tls
    dns["hooks.example.test"] = "127.0.0.1"

    row = _deliver(team, f"https://hooks.example.test:{receiver.port}/hooks/asterai")

    assert row.state == WebhookDelivery.State.SUCCEEDED, row.error
    assert server_names == ["hooks.example.test"]
    assert receiver.requests[0].headers["Host"] == f"hooks.example.test:{receiver.port}"


def test_a_certificate_for_another_name_fails_the_attempt(team, tls, dns):
    receiver, _ = tls
    dns["other.example.test"] = "127.0.0.1"

    row = _deliver(team, f"https://other.example.test:{receiver.port}/hooks/asterai")

    assert row.state == WebhookDelivery.State.PENDING and row.response_status is None
    assert "certificate" in row.error.lower()
    assert receiver.requests == []
