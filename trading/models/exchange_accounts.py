"""Exchange accounts: an organization's connection to a venue (or to its paper exchange)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.tenancy import TenantModel

__all__ = ["ExchangeAccount"]


class ExchangeAccount(TenantModel):
    """Credentials are stored encrypted (``asterweb.crypto``) and never shown again after saving;
    the page and the API show only ``fingerprint`` (the wallet address or key prefix)."""

    class Mode(models.TextChoices):
        PAPER = "paper", "Paper"
        LIVE = "live", "Live"

    class CredentialKind(models.TextChoices):
        NONE = "none", "None (paper exchange)"
        AGENT_KEY = "agent_key", "Agent (API wallet) key — can trade, cannot withdraw"
        MAIN_KEY = "main_key", "Main wallet private key — full custody"
        API_KEY = "api_key", "API key and secret"

    class Status(models.TextChoices):
        UNTESTED = "untested", "Not tested yet"
        OK = "ok", "Connected"
        FAILED = "failed", "Connection failed"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    exchange_id = models.CharField(max_length=40, help_text="A CCXT exchange id (e.g. aster) or paper.")
    label = models.CharField(max_length=80)
    mode = models.CharField(max_length=10, choices=Mode.choices)
    credential_kind = models.CharField(max_length=12, choices=CredentialKind.choices, default=CredentialKind.NONE)
    credentials_encrypted = models.TextField(blank=True, help_text="Fernet token of the credentials JSON.")
    fingerprint = models.CharField(max_length=120, blank=True, help_text="Wallet address or key prefix; not secret.")
    main_key_risk_accepted_at = models.DateTimeField(
        null=True, blank=True, help_text="When a person confirmed the full-custody warning for a main wallet key."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNTESTED)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_message = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    credentials_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["organization", "label"], name="exchange_account_unique_label"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.exchange_id}, {self.mode})"

    @property
    def is_paper(self) -> bool:
        return self.mode == self.Mode.PAPER


# Named choice sets for the OpenAPI schema (settings.SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]).
CREDENTIAL_KIND_CHOICES = ExchangeAccount.CredentialKind.choices
LIVE_CREDENTIAL_KIND_CHOICES = [
    (kind, label) for kind, label in CREDENTIAL_KIND_CHOICES if kind != ExchangeAccount.CredentialKind.NONE
]
