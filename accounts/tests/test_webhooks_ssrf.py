"""Webhooks never reach the server's own network: private, loopback, link-local and other
reserved destinations are refused when an endpoint is saved and again before every request,
whether named literally or by a host name that resolves there (also after a DNS change), and a
redirect to one is not followed. The "private target" in these tests is a real server on
127.0.0.2, which the allow-list here leaves out (only 127.0.0.1 is allowed), so a test can
check that no request reached it."""

from __future__ import annotations

import socket

import pytest
from django.test import override_settings

from accounts.tests.webhook_receiver import start_receiver
from accounts.webhooks import delivery, services, ssrf
from accounts.webhooks.models import WebhookDelivery, WebhookEndpoint
from asterweb.errors import ApplicationError
from asterweb.events import event_publish

pytestmark = pytest.mark.django_db

ONLY_127_0_0_1 = override_settings(WEBHOOK_ALLOWED_PRIVATE_NETWORKS=["127.0.0.1/32"])
NOTHING_ALLOWED = override_settings(WEBHOOK_ALLOWED_PRIVATE_NETWORKS=[])


@pytest.fixture
def receiver():
    receiver = start_receiver("127.0.0.1")
    yield receiver
    receiver.close()


@pytest.fixture
def private_target():
    """A server on an address the allow-list leaves out: it must never be reached."""
    target = start_receiver("127.0.0.2")
    yield target
    target.close()


@pytest.fixture
def dns(monkeypatch):
    """Point chosen host names at chosen addresses, through the resolver call the SSRF check makes."""
    records: dict[str, list[str]] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in records:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in records[host]
        ]

    monkeypatch.setattr(ssrf, "_getaddrinfo", getaddrinfo)
    return records


def create(team, url: str) -> WebhookEndpoint:
    return services.webhook_endpoint_create(organization=team.org, actor=team.admin, url=url).endpoint


# Expected from the IANA special-purpose registries (RFC 6890 and successors), by hand.
REFUSED = [
    "10.0.0.5",
    "172.16.0.1",
    "192.168.1.1",  # RFC 1918
    "127.0.0.1",
    "::1",  # loopback
    "169.254.169.254",
    "fe80::1",  # link-local (the cloud metadata service)
    "0.0.0.0",
    "::",  # unspecified
    "100.64.0.1",  # carrier-grade NAT
    "224.0.0.1",
    "ff02::1",  # multicast
    "240.0.0.1",
    "255.255.255.255",  # reserved, broadcast
    "192.0.2.1",
    "198.18.0.1",  # documentation, benchmarking
    "fc00::1",  # unique local
    "::ffff:10.0.0.5",
    "::ffff:127.0.0.1",  # IPv4-mapped private
    "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
    "2002:a00:5::1",  # 6to4 of 10.0.0.5
]
ALLOWED = ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.216.34", "64:ff9b::5db8:d822"]


@NOTHING_ALLOWED
@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address):
    assert not ssrf.address_is_allowed(address)


@NOTHING_ALLOWED
@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address):
    assert ssrf.address_is_allowed(address)


def test_the_allow_list_lets_chosen_networks_through():
    # Test settings allow-list 127.0.0.0/8 and ::1/128, nothing else.
    assert ssrf.address_is_allowed("127.0.0.1") and ssrf.address_is_allowed("::1")
    assert not ssrf.address_is_allowed("10.0.0.5")


@NOTHING_ALLOWED
@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]:8443/hook",
        "https://[fe80::1]/",
        "https://0.0.0.0/",
    ],
)
def test_a_literal_private_address_is_refused_when_saving(team, url):
    with pytest.raises(ApplicationError) as refused:
        create(team, url)
    assert "private, loopback or otherwise reserved" in refused.value.fields["url"][0]
    assert WebhookEndpoint.objects.for_org(team.org).count() == 0


@override_settings(WEBHOOK_ALLOWED_PRIVATE_NETWORKS=["127.0.0.0/8"])
def test_ipv6_loopback_is_refused_unless_allow_listed(team, receiver):
    with pytest.raises(ApplicationError):
        create(team, "http://[::1]:9/hook")


def test_a_host_name_resolving_to_a_private_address_is_refused(team, dns):
    dns["internal.example.test"] = ["10.0.0.5"]
    dns["mixed.example.test"] = ["93.184.216.34", "169.254.169.254"]
    with pytest.raises(ApplicationError) as refused:
        create(team, "https://internal.example.test/hook")
    assert refused.value.fields["url"] == [
        "internal.example.test resolves to 10.0.0.5, which is a private, loopback or otherwise reserved address: "
        "webhooks can only be sent to public addresses."
    ]
    with pytest.raises(ApplicationError):
        create(team, "https://mixed.example.test/hook")  # one bad address is enough


def test_a_host_name_that_does_not_resolve_is_refused(team, dns):
    with pytest.raises(ApplicationError) as refused:
        create(team, "https://nowhere.example.test/hook")
    assert refused.value.fields["url"] == ["The host name nowhere.example.test could not be resolved."]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/hook", "Webhook URLs must start with https://."),
        ("https://user:pass@example.com/hook", "Leave credentials out of the URL"),
        ("https:///hook", "Enter a URL with a host name."),
        ("https://example.com:99999/", "Enter a valid URL."),
    ],
)
def test_malformed_or_unsupported_urls_are_refused(team, url, message):
    with pytest.raises(ApplicationError) as refused:
        create(team, url)
    assert refused.value.fields["url"][0].startswith(message)


@override_settings(WEBHOOK_ALLOW_HTTP=False)
def test_plain_http_is_refused_unless_allowed(team, dns):
    dns["example.test"] = ["93.184.216.34"]
    with pytest.raises(ApplicationError, match="https://"):
        create(team, "http://example.test/hook")


@ONLY_127_0_0_1
def test_the_request_goes_to_the_address_that_was_checked(team, receiver, dns):
    dns["hooks.example.test"] = ["127.0.0.1"]
    create(team, f"http://hooks.example.test:{receiver.port}/hooks/asterai")
    event_publish(organization=team.org, type="member.added", data={})

    delivery.webhook_deliveries_send_due()

    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["Host"] == f"hooks.example.test:{receiver.port}"
    assert WebhookDelivery.objects.for_org(team.org).get().state == WebhookDelivery.State.SUCCEEDED


@ONLY_127_0_0_1
def test_a_name_that_later_resolves_to_a_private_address_is_refused_at_send_time(team, receiver, private_target, dns):
    """DNS rebinding: public (here: allow-listed) when saved, private when sent."""
    dns["hooks.example.test"] = ["127.0.0.1"]
    create(team, f"http://hooks.example.test:{private_target.port}/hooks/asterai")
    dns["hooks.example.test"] = ["127.0.0.2"]
    event_publish(organization=team.org, type="member.added", data={})

    delivery.webhook_deliveries_send_due()

    row = WebhookDelivery.objects.for_org(team.org).get()
    assert row.state == WebhookDelivery.State.PENDING and row.response_status is None
    assert "127.0.0.2" in row.error and "private" in row.error
    assert private_target.requests == [] and receiver.requests == []


@ONLY_127_0_0_1
def test_an_endpoint_saved_before_the_rules_tightened_is_checked_again_when_sending(team, private_target):
    with override_settings(WEBHOOK_ALLOWED_PRIVATE_NETWORKS=["127.0.0.0/8"]):
        create(team, private_target.url)
    event_publish(organization=team.org, type="member.added", data={})

    delivery.webhook_deliveries_send_due()

    assert private_target.requests == []
    assert "private" in WebhookDelivery.objects.for_org(team.org).get().error


@ONLY_127_0_0_1
def test_a_redirect_to_a_private_address_is_not_followed(team, receiver, private_target):
    receiver.behaviour.status = 302
    receiver.behaviour.location = private_target.url
    create(team, receiver.url)
    event_publish(organization=team.org, type="member.added", data={})

    delivery.webhook_deliveries_send_due()

    row = WebhookDelivery.objects.for_org(team.org).get()
    assert row.state == WebhookDelivery.State.PENDING and row.response_status == 302
    assert "redirects are not followed" in row.error
    assert len(receiver.requests) == 1
    assert private_target.requests == []


def test_even_a_redirect_to_a_public_address_is_a_failed_attempt(team, receiver):
    receiver.behaviour.status = 301
    receiver.behaviour.location = "https://example.com/elsewhere"
    create(team, receiver.url)
    event_publish(organization=team.org, type="member.added", data={})
    delivery.webhook_deliveries_send_due()
    row = WebhookDelivery.objects.for_org(team.org).get()
    assert row.response_status == 301 and row.state == WebhookDelivery.State.PENDING and row.attempts == 1
    assert len(receiver.requests) == 1
