"""One client-IP policy for the app and allauth: behind a trusted reverse proxy, allauth's
per-IP rate limits count each client (X-Forwarded-For), not the proxy every request comes from."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user
from django.test import Client, override_settings
from django.urls import reverse

from accounts.request_context import _trusted_networks
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"
FAILED_LOGINS_PER_MINUTE_PER_IP = 10  # ACCOUNT_RATE_LIMITS["login_failed"] = "10/m/ip,..." in the test settings
LOGINS_PER_MINUTE_PER_IP = 30  # allauth's default "login" rate


@pytest.fixture(autouse=True)
def behind_a_proxy():
    with override_settings(TRUSTED_PROXIES=["10.0.0.0/8"]):
        _trusted_networks.cache_clear()
        yield
    _trusted_networks.cache_clear()


def via_proxy(client_address: str) -> Client:
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=client_address)


def login(client: Client, email: str, password: str):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_failed_logins_from_one_client_behind_the_proxy_do_not_lock_out_another():
    attacker = via_proxy("198.51.100.66")
    for n in range(FAILED_LOGINS_PER_MINUTE_PER_IP + 1):
        login(attacker, f"guess{n}@example.com", "Wrong-Password-0000")
    user = UserFactory()
    someone_else = via_proxy("203.0.113.5")
    response = login(someone_else, user.email, PASSWORD)
    assert response.status_code == 302
    assert get_user(someone_else).is_authenticated


def test_the_client_behind_the_proxy_that_hammers_the_login_form_is_still_limited():
    attacker = via_proxy("198.51.100.66")
    statuses = [login(attacker, f"guess{n}@example.com", "x").status_code for n in range(LOGINS_PER_MINUTE_PER_IP + 1)]
    assert statuses[-1] == 429
    assert login(via_proxy("203.0.113.5"), "other@example.com", "x").status_code == 200


def test_an_untrusted_peer_cannot_escape_the_limit_by_varying_x_forwarded_for():
    statuses = [
        login(Client(REMOTE_ADDR="198.51.100.66", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}"), f"g{n}@example.com", "x")
        for n in range(LOGINS_PER_MINUTE_PER_IP + 1)
    ]
    assert statuses[-1].status_code == 429
