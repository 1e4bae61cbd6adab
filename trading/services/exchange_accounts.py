"""Connecting organizations to exchanges: create, replace credentials, test, remove, and
re-encrypt every stored credential when the encryption keys rotate."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Organization, User
from accounts.services import audit_record
from asterweb import crypto
from asterweb.errors import ApplicationError, ConflictError
from trading.exchanges.base import ConnectionReport, ExchangeAdapter, ExchangeError
from trading.exchanges.credentials import CredentialsInvalid, ExchangeCredentials
from trading.exchanges.registry import adapter_for, supported_exchange_ids
from trading.models import ExchangeAccount

PAPER_EXCHANGE_ID = "paper"
PAPER_LABEL = "Paper"
# Venues whose CCXT class signs with an EVM wallet key rather than an API key and secret.
WALLET_KEY_EXCHANGES = frozenset({"aster", "hyperliquid"})


def _check_exchange(exchange_id: str, mode: str, credentials: ExchangeCredentials) -> None:
    if mode == ExchangeAccount.Mode.PAPER:
        if exchange_id != PAPER_EXCHANGE_ID:
            raise ApplicationError("Paper accounts use the paper exchange.", fields={"exchange_id": ["Use “paper”."]})
        return
    if mode != ExchangeAccount.Mode.LIVE:
        raise ApplicationError("Choose paper or live.", fields={"mode": ["Choose paper or live."]})
    if exchange_id not in supported_exchange_ids():
        raise ApplicationError(
            f"“{exchange_id}” is not an exchange we can connect to.", fields={"exchange_id": ["Unknown exchange id."]}
        )
    wallet = exchange_id in WALLET_KEY_EXCHANGES
    allowed = {"agent_key", "main_key"} if wallet else {"api_key"}
    if credentials.kind not in allowed:
        needed = "an agent (API wallet) key or a main wallet key" if wallet else "an API key and secret"
        raise ApplicationError(f"{exchange_id} needs {needed}.", fields={"credential_kind": [f"Use {needed}."]})


def _check_custody(credentials: ExchangeCredentials, accept_main_key_risk: bool) -> None:
    if credentials.kind == "main_key" and not accept_main_key_risk:
        raise ApplicationError(
            "A main wallet key can move all funds, including withdrawals. Use an agent (API wallet) key, or "
            "confirm that you accept the risk.",
            code="main_key_risk_not_accepted",
            fields={"accept_main_key_risk": ["Confirm you understand the risk, or use an agent key."]},
        )


@transaction.atomic
def exchange_account_create(
    *,
    organization: Organization,
    actor: User,
    exchange_id: str,
    label: str,
    mode: str,
    credentials: ExchangeCredentials,
    accept_main_key_risk: bool = False,
) -> ExchangeAccount:
    """Connect an exchange. Credentials are encrypted before they touch the database."""
    label = label.strip()
    if not label:
        raise ApplicationError("Give the account a name.", fields={"label": ["This field is required."]})
    _check_exchange(exchange_id, mode, credentials)
    _check_custody(credentials, accept_main_key_risk)
    now = timezone.now()
    try:
        with transaction.atomic():
            account = ExchangeAccount.objects.create(
                organization=organization,
                exchange_id=exchange_id,
                label=label,
                mode=mode,
                credential_kind=credentials.kind,
                credentials_encrypted=crypto.encrypt(credentials.to_json()) if credentials.kind != "none" else "",
                fingerprint=credentials.fingerprint(),
                main_key_risk_accepted_at=now if credentials.kind == "main_key" else None,
                created_by=actor,
                credentials_updated_at=now if credentials.kind != "none" else None,
            )
    except IntegrityError as exc:
        raise ConflictError(f"You already have an account named “{label}”.", fields={"label": ["Taken."]}) from exc
    audit_record(
        action="exchange_account.created",
        organization=organization,
        actor=actor,
        target=account,
        details={
            "exchange_id": exchange_id,
            "label": label,
            "mode": mode,
            "credential_kind": credentials.kind,
            "fingerprint": account.fingerprint,
        },
    )
    return account


@transaction.atomic
def exchange_account_replace_credentials(
    *,
    organization: Organization,
    actor: User,
    account: ExchangeAccount,
    credentials: ExchangeCredentials,
    accept_main_key_risk: bool = False,
) -> ExchangeAccount:
    """Swap in new credentials (the old ones are gone); the account must be tested again.
    The paper account takes none."""
    account = ExchangeAccount.objects.for_org(organization).select_for_update().get(pk=account.pk)
    if account.is_paper:
        raise ApplicationError("The paper exchange needs no credentials.", code="paper_account_takes_no_credentials")
    _check_exchange(account.exchange_id, account.mode, credentials)
    _check_custody(credentials, accept_main_key_risk)
    now = timezone.now()
    previous = account.fingerprint
    account.credential_kind = credentials.kind
    account.credentials_encrypted = crypto.encrypt(credentials.to_json())
    account.fingerprint = credentials.fingerprint()
    account.main_key_risk_accepted_at = now if credentials.kind == "main_key" else None
    account.credentials_updated_at = now
    account.status, account.last_check_message, account.last_checked_at = ExchangeAccount.Status.UNTESTED, "", None
    account.save()
    audit_record(
        action="exchange_account.credentials_replaced",
        organization=organization,
        actor=actor,
        target=account,
        details={
            "credential_kind": credentials.kind,
            "fingerprint": account.fingerprint,
            "previous_fingerprint": previous,
        },
    )
    return account


def exchange_account_credentials(account: ExchangeAccount) -> ExchangeCredentials | None:
    """Decrypt for use by an adapter; never for display."""
    if not account.credentials_encrypted:
        return None
    return ExchangeCredentials.from_json(crypto.decrypt(account.credentials_encrypted))


def exchange_account_adapter(account: ExchangeAccount) -> ExchangeAdapter:
    """The adapter that trades this account: the paper exchange, or CCXT with its credentials."""
    if account.mode == ExchangeAccount.Mode.PAPER:
        return adapter_for(PAPER_EXCHANGE_ID, None, exchange_account=account)
    return adapter_for(account.exchange_id, exchange_account_credentials(account))


def exchange_account_test(
    *, organization: Organization, actor: User | None, account: ExchangeAccount
) -> ConnectionReport:
    """Check the credentials against the exchange (balance and permissions) and record the outcome."""
    try:
        report = exchange_account_adapter(account).check_connection()
    except ExchangeError as error:
        report = ConnectionReport(
            ok=False, account=account.fingerprint or None, can_trade=False, can_withdraw=None, message=str(error)[:500]
        )
    ExchangeAccount.objects.for_org(organization).filter(pk=account.pk).update(
        status=ExchangeAccount.Status.OK if report.ok else ExchangeAccount.Status.FAILED,
        last_checked_at=timezone.now(),
        last_check_message=report.message[:500],
    )
    account.refresh_from_db()
    audit_record(
        action="exchange_account.tested",
        organization=organization,
        actor=actor,
        target=account,
        details={"ok": report.ok, "can_trade": report.can_trade, "can_withdraw": report.can_withdraw},
    )
    return report


@transaction.atomic
def exchange_account_remove(*, organization: Organization, actor: User, account: ExchangeAccount) -> None:
    """Disconnect an exchange: the encrypted credentials are deleted with the row."""
    if account.mode == ExchangeAccount.Mode.PAPER and account.label == PAPER_LABEL:
        raise ConflictError("Every organization keeps its paper account.", code="paper_account_required")
    # The row first, then the audit (which takes the organization's event counter), as
    # exchange_account_replace_credentials does: the other order deadlocks with it.
    ExchangeAccount.objects.for_org(organization).filter(pk=account.pk).delete()
    audit_record(
        action="exchange_account.removed",
        organization=organization,
        actor=actor,
        target=account,
        details={"exchange_id": account.exchange_id, "label": account.label, "fingerprint": account.fingerprint},
    )


def exchange_account_ensure_paper(*, organization: Organization) -> ExchangeAccount:
    """The organization's paper account (created on first use; every organization has one)."""
    account, _ = ExchangeAccount.objects.for_org(organization).get_or_create(
        label=PAPER_LABEL,
        defaults={
            "organization": organization,
            "exchange_id": PAPER_EXCHANGE_ID,
            "mode": ExchangeAccount.Mode.PAPER,
            "status": ExchangeAccount.Status.OK,
        },
    )
    return account


def exchange_credentials_reencrypt() -> int:
    """Re-encrypt every stored credential with the newest key (after adding a key to
    FIELD_ENCRYPTION_KEYS). A system job across organizations."""
    count = 0
    for account in ExchangeAccount.all_objects.exclude(credentials_encrypted="").iterator():
        with transaction.atomic():
            locked = ExchangeAccount.all_objects.select_for_update().get(pk=account.pk)
            locked.credentials_encrypted = crypto.reencrypt(locked.credentials_encrypted)
            locked.save(update_fields=["credentials_encrypted"])
            count += 1
    return count


__all__ = [
    "PAPER_EXCHANGE_ID",
    "CredentialsInvalid",
    "exchange_account_adapter",
    "exchange_account_create",
    "exchange_account_credentials",
    "exchange_account_ensure_paper",
    "exchange_account_remove",
    "exchange_account_replace_credentials",
    "exchange_account_test",
    "exchange_credentials_reencrypt",
]
