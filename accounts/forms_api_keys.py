"""HTML form for issuing an API key (accounts/views_api_keys.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms

from accounts.models import Scope

SCOPE_LABELS = {
    Scope.READ: "Read — see the organization's data",
    Scope.TRADE: "Trade — run bots, backtests and orders",
    Scope.ADMIN: "Admin — manage members, invitations, settings and webhooks",
}


class ApiKeyCreateForm(forms.Form):
    """Name, scopes, optional expiry date and IP allow-list. Field names match the service's
    (``api_key_create``), so its per-field refusals land on the right field."""

    name = forms.CharField(max_length=100, help_text="So you recognise it later, e.g. “grafana” or “backtest runner”.")
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Scopes",
        error_messages={"required": "Choose at least one scope."},
    )
    expires_at = forms.DateField(
        required=False,
        label="Expires on (optional)",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The key stops working at the end of this day (UTC). Leave empty for no expiry.",
    )
    allowed_cidrs = forms.CharField(
        required=False,
        label="IP allow-list (optional)",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "203.0.113.7\n198.51.100.0/24", "spellcheck": "false"}),
        help_text="One IP address or CIDR range per line. Leave empty to allow any address.",
    )

    def __init__(self, *args: Any, grantable_scopes: frozenset[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the scopes the member's role can grant are offered. Validation still accepts
        # every scope, so a forged one reaches the service and is refused with its reason.
        self.fields["scopes"].widget.choices = [
            (scope, SCOPE_LABELS[scope]) for scope in Scope.values if scope in grantable_scopes
        ]
        if not self.is_bound:
            self.initial.setdefault("scopes", [Scope.READ])

    def clean_expires_at(self) -> datetime | None:
        day: date | None = self.cleaned_data["expires_at"]
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC) if day else None

    def clean_allowed_cidrs(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["allowed_cidrs"].splitlines() if line.strip()]
