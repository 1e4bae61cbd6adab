"""Aster v3 request signing, verified the way the venue does it, independently of CCXT.

A signed (USER_DATA / TRADE) request carries ``nonce`` (microseconds), ``user`` (the wallet
whose account is used), ``signer`` (the key that signed: the user itself or an approved agent)
and ``signature``: an EIP-712 signature over the typed data

    domain  {name: "AsterSignTransaction", version: "1", chainId: 1666,
             verifyingContract: 0x0000000000000000000000000000000000000000}
    types   {Message: [{name: "msg", type: "string"}]}
    message {msg: <the url-encoded parameter string, exactly as sent, without signature>}

The parameter string is the query string for GET and the form body for POST/PUT/DELETE.
We recover the signer with ``eth_account`` (not CCXT's own encoder), so a CCXT signing bug
would be caught here rather than mirrored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from urllib.parse import quote

from eth_account import Account
from eth_account.messages import encode_typed_data

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
CHAIN_ID = 1666
DOMAIN = {"name": "AsterSignTransaction", "version": "1", "chainId": CHAIN_ID, "verifyingContract": ZERO_ADDRESS}
MESSAGE_TYPES = {"Message": [{"name": "msg", "type": "string"}]}
# approveBuilder is signed over a different message (CCXT: sign(), isApproveBuilder)
APPROVE_BUILDER_TYPES = {
    "ApproveBuilder": [
        {"name": "Builder", "type": "string"},
        {"name": "MaxFeeRate", "type": "string"},
        {"name": "BuilderName", "type": "string"},
        {"name": "AsterChain", "type": "string"},
        {"name": "User", "type": "string"},
        {"name": "Nonce", "type": "uint256"},
    ]
}


_URI_SAFE = "~()*!.'"


class SignatureInvalid(Exception):
    pass


def split_signature(raw: str) -> tuple[str, str | None]:
    """Return (the signed parameter string, the signature) from a raw query string or body.
    The signed string is every other parameter, in the order and encoding they were sent."""
    kept: list[str] = []
    signature: str | None = None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def recover_signer(signed: str, signature: str) -> str:
    """The address (lower-case) that produced ``signature`` over ``signed``."""
    try:
        message = encode_typed_data(domain_data=DOMAIN, message_types=MESSAGE_TYPES, message_data={"msg": signed})
        return Account.recover_message(message, signature=signature).lower()
    except Exception as exc:  # malformed hex, wrong length, invalid point...
        raise SignatureInvalid(str(exc)) from exc


def recover_approve_builder_signer(params: dict[str, str], signature: str) -> str:
    data = {
        "Builder": params.get("builder", ""),
        "MaxFeeRate": params.get("maxFeeRate", ""),
        "BuilderName": params.get("builderName", ""),
        "AsterChain": params.get("asterChain", ""),
        "User": params.get("user", ""),
        "Nonce": int(params.get("nonce", "0")),
    }
    try:
        message = encode_typed_data(domain_data=DOMAIN, message_types=APPROVE_BUILDER_TYPES, message_data=data)
        return Account.recover_message(message, signature=signature).lower()
    except Exception as exc:
        raise SignatureInvalid(str(exc)) from exc


def encode_params(params: Iterable[tuple[str, str]]) -> str:
    """URL-encode like a JavaScript encodeURIComponent (which is what CCXT does)."""
    return "&".join(f"{k}={quote(str(v), safe=_URI_SAFE)}" for k, v in params)


def sign_params(private_key: str, params: Iterable[tuple[str, str]]) -> str:
    """Build a complete signed parameter string (for tests that talk to the server without CCXT)."""
    signed = encode_params(params)
    message = encode_typed_data(domain_data=DOMAIN, message_types=MESSAGE_TYPES, message_data={"msg": signed})
    signature = Account.sign_message(message, private_key=private_key).signature.hex()
    if not signature.startswith("0x"):
        signature = "0x" + signature
    return f"{signed}&signature={signature}"


class NonceGuard:
    """Rejects nonces (microseconds) outside ``window_s`` of the server clock, and any nonce a
    (user, signer) pair has already used (a replayed request)."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self._seen: dict[tuple[str, str], dict[int, float]] = {}
        self._lock = threading.Lock()

    def check_fresh(self, nonce: int) -> str | None:
        now_us = int(time.time() * 1_000_000)
        if abs(now_us - nonce) > self.window_s * 1_000_000:
            return "Nonce is outside of the allowed window." if nonce < now_us else "Nonce is ahead of the server time."
        return None

    def use(self, user: str, signer: str, nonce: int) -> bool:
        """Record the nonce; False when it was already used."""
        with self._lock:
            seen = self._seen.setdefault((user, signer), {})
            if nonce in seen:
                return False
            now = time.time()
            seen[nonce] = now
            if len(seen) > 512:  # forget what the window check rejects anyway
                horizon = now - 2 * self.window_s
                for old in [n for n, t in seen.items() if t < horizon]:
                    del seen[old]
            return True
