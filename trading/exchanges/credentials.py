"""Exchange credentials: parsing what a person typed, fingerprints that are safe to show,
and (de)serialisation for encryption at rest. Nothing here logs or returns a secret."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from ccxt.base.exchange import Exchange as CcxtExchange

from trading.exchanges.base import AuthenticationError

_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class CredentialsInvalid(ValueError):
    """What was typed cannot be a credential; ``field`` names the input, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, repr=False)
class ExchangeCredentials:
    """``kind`` is one of ExchangeAccount.CredentialKind. repr() never shows secrets."""

    kind: str
    private_key: str | None = None  # 0x-prefixed hex (agent or main wallet key)
    wallet_address: str | None = None  # the main wallet an agent key acts for
    api_key: str | None = None
    secret: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        return f"ExchangeCredentials(kind={self.kind!r}, fingerprint={self.fingerprint()!r})"

    def signer_address(self) -> str | None:
        return address_of(self.private_key) if self.private_key else None

    def account_address(self) -> str | None:
        """The wallet whose funds are traded: the main wallet for an agent key, else the key's own."""
        return self.wallet_address or self.signer_address()

    def fingerprint(self) -> str:
        if self.kind == "agent_key":
            return f"{self.account_address()} (agent {self.signer_address()})"
        if self.kind == "main_key":
            return self.account_address() or ""
        if self.kind == "api_key" and self.api_key:
            return f"{self.api_key[:6]}…{self.api_key[-4:]}" if len(self.api_key) > 12 else "api key"
        return ""

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ExchangeCredentials:
        return cls(**json.loads(text))


def address_of(private_key: str) -> str:
    """The EVM address a private key controls (lower-case hex)."""
    return CcxtExchange.eth_get_address_from_private_key(private_key).lower()


def _private_key(value: str, field: str) -> str:
    value = (value or "").strip()
    if not value:
        raise CredentialsInvalid(field, "Enter the private key.")
    if not _HEX_KEY.match(value):
        raise CredentialsInvalid(field, "A private key is 64 hexadecimal characters (optionally starting with 0x).")
    return "0x" + value.removeprefix("0x").lower()


def _address(value: str, field: str) -> str:
    value = (value or "").strip()
    if not _ADDRESS.match(value):
        raise CredentialsInvalid(field, "A wallet address is 0x followed by 40 hexadecimal characters.")
    return value.lower()


def credentials_parse(
    *,
    kind: str,
    private_key: str = "",
    wallet_address: str = "",
    api_key: str = "",
    secret: str = "",
    password: str = "",
) -> ExchangeCredentials:
    """Validate typed credentials. An agent key must act for a *different* main wallet."""
    if kind == "agent_key":
        key = _private_key(private_key, "private_key")
        main = _address(wallet_address, "wallet_address")
        if address_of(key) == main:
            raise CredentialsInvalid(
                "private_key", "This is the main wallet's own key, not an agent key: choose “main wallet key”."
            )
        return ExchangeCredentials(kind=kind, private_key=key, wallet_address=main)
    if kind == "main_key":
        return ExchangeCredentials(kind=kind, private_key=_private_key(private_key, "private_key"))
    if kind == "api_key":
        if not api_key.strip() or not secret.strip():
            raise CredentialsInvalid("api_key", "Enter both the API key and its secret.")
        return ExchangeCredentials(
            kind=kind, api_key=api_key.strip(), secret=secret.strip(), password=password.strip() or None
        )
    if kind == "none":
        return ExchangeCredentials(kind=kind)
    raise CredentialsInvalid("credential_kind", "Choose how to connect: agent key, main wallet key or API key.")


def require_credentials(credentials: ExchangeCredentials | None) -> ExchangeCredentials:
    if credentials is None or credentials.kind == "none":
        raise AuthenticationError("This exchange account has no credentials.")
    return credentials
