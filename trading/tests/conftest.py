"""Fixtures for the trading tests: the local Aster server (``aster_server``) and the wallets it
knows (``aster_wallets``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from eth_account import Account

from trading.exchanges.ccxt_adapter import clear_markets_cache
from trading.exchanges.credentials import ExchangeCredentials
from trading.tests.aster_server import AsterTestServer


@dataclass(frozen=True)
class Wallet:
    private_key: str  # 0x-prefixed hex
    address: str  # lower-case hex

    @classmethod
    def from_seed(cls, seed: str) -> Wallet:
        key = "0x" + hashlib.sha256(seed.encode()).hexdigest()
        return cls(key, Account.from_key(key).address.lower())


@dataclass(frozen=True)
class AsterWallets:
    main: Wallet  # has an account with 10,000 USDT on the server
    agent: Wallet  # an API wallet the main wallet approved
    stranger: Wallet  # a key nobody approved

    def agent_credentials(self) -> ExchangeCredentials:
        return ExchangeCredentials(
            kind="agent_key", private_key=self.agent.private_key, wallet_address=self.main.address
        )

    def main_credentials(self) -> ExchangeCredentials:
        return ExchangeCredentials(kind="main_key", private_key=self.main.private_key)

    def unapproved_agent_credentials(self) -> ExchangeCredentials:
        return ExchangeCredentials(
            kind="agent_key", private_key=self.stranger.private_key, wallet_address=self.main.address
        )


@pytest.fixture(scope="session")
def aster_wallets() -> AsterWallets:
    return AsterWallets(
        Wallet.from_seed("aster main"), Wallet.from_seed("aster agent"), Wallet.from_seed("aster stranger")
    )


@pytest.fixture
def aster_server(aster_wallets: AsterWallets) -> Iterator[AsterTestServer]:
    server = AsterTestServer().start()
    server.state.add_account(
        aster_wallets.main.address, balances={"USDT": Decimal("10000")}, agents=[aster_wallets.agent.address]
    )
    try:
        yield server
    finally:
        server.stop()
        clear_markets_cache()
