"""Support staff read exchange accounts in the admin, never their credentials."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.tests.factories import UserFactory
from accounts.tests.second_factor import client_with_second_factor
from trading.exchanges.credentials import ExchangeCredentials
from trading.services.exchange_accounts import exchange_account_create


def test_support_reads_an_exchange_account_without_its_credentials(team):
    key = "0x" + "7c" * 32
    account = exchange_account_create(
        organization=team.org,
        actor=team.owner,
        exchange_id="aster",
        label="Aster",
        mode="live",
        credentials=ExchangeCredentials(kind="agent_key", private_key=key, wallet_address="0x" + "ab" * 20),
    )
    support = UserFactory(is_staff=True)
    support.groups.add(Group.objects.get(name="Support"))
    client = client_with_second_factor(support, reauthenticated=False)  # the admin needs a 2FA session
    listing = client.get(reverse("admin:trading_exchangeaccount_changelist"))
    assert listing.status_code == 200 and "Aster" in listing.content.decode()
    page = client.get(reverse("admin:trading_exchangeaccount_change", args=[account.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and account.fingerprint in html
    assert "credentials_encrypted" not in html and "7c7c7c" not in html
    assert client.post(reverse("admin:trading_exchangeaccount_change", args=[account.pk]), {}).status_code == 403
    assert client.get(reverse("admin:trading_candleseries_changelist")).status_code == 200
