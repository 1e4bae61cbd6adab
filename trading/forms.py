"""HTML forms for trading pages."""

from __future__ import annotations

from datetime import timedelta

from django import forms

from trading.exchanges.base import TIMEFRAME_SECONDS
from trading.exchanges.credentials import CredentialsInvalid, ExchangeCredentials, credentials_parse
from trading.models import CandleSeries
from trading.models.exchange_accounts import LIVE_CREDENTIAL_KIND_CHOICES


class CredentialsForm(forms.Form):
    """Credential fields; ``clean`` turns them into ExchangeCredentials (never echoed back)."""

    credential_kind = forms.ChoiceField(choices=LIVE_CREDENTIAL_KIND_CHOICES, initial="agent_key", label="Connect with")
    private_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Agent (API wallet) or main wallet private key, 64 hex characters.",
    )
    wallet_address = forms.CharField(
        required=False,
        max_length=42,
        help_text="For an agent key: the main wallet address it trades for (0x…).",
    )
    api_key = forms.CharField(required=False, max_length=200, widget=forms.PasswordInput(render_value=False))
    secret = forms.CharField(required=False, max_length=500, widget=forms.PasswordInput(render_value=False))
    password = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="Only for exchanges that use an API passphrase.",
    )
    accept_main_key_risk = forms.BooleanField(
        required=False,
        label="I understand a main wallet key gives AsterAI full custody, including withdrawals.",
    )

    def clean(self) -> dict:
        data = super().clean()
        try:
            data["credentials"] = credentials_parse(
                kind=data.get("credential_kind", ""),
                private_key=data.get("private_key", ""),
                wallet_address=data.get("wallet_address", ""),
                api_key=data.get("api_key", ""),
                secret=data.get("secret", ""),
                password=data.get("password", ""),
            )
        except CredentialsInvalid as error:
            self.add_error(error.field if error.field in self.fields else None, str(error))
        return data

    @property
    def credentials(self) -> ExchangeCredentials:
        return self.cleaned_data["credentials"]


class ExchangeAccountForm(CredentialsForm):
    label = forms.CharField(max_length=80)
    exchange_id = forms.CharField(
        max_length=40, initial="aster", label="Exchange", help_text="A CCXT exchange id; Aster DEX is “aster”."
    )

    field_order = [
        "label",
        "exchange_id",
        "credential_kind",
        "private_key",
        "wallet_address",
        "api_key",
        "secret",
        "password",
        "accept_main_key_risk",
    ]

    def clean_exchange_id(self) -> str:
        return self.cleaned_data["exchange_id"].strip().lower()


def series_choice_value(series: CandleSeries) -> str:
    return "|".join([series.exchange, series.symbol, series.market_type, series.timeframe])


def chosen_step(series: CandleSeries) -> timedelta:
    return timedelta(seconds=TIMEFRAME_SECONDS[series.timeframe])


class CandleChartForm(forms.Form):
    series = forms.ChoiceField(label="Series")
    start = forms.DateTimeField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    end = forms.DateTimeField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")

    def __init__(self, *args, series: list[CandleSeries], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._series = {series_choice_value(row): row for row in series}
        self.fields["series"].choices = [
            (value, f"{row.exchange} · {row.symbol} · {row.market_type} · {row.timeframe}")
            for value, row in self._series.items()
        ]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] >= data["end"]:
            raise forms.ValidationError("“From” must be before “to”.")
        return data

    def chosen_series(self) -> CandleSeries:
        return self._series[self.cleaned_data["series"]]
