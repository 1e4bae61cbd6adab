"""Support staff see exchange accounts (never their credentials, not even encrypted)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from trading.models import CandleImport, CandleSeries, ExchangeAccount, PaperAccount


@admin.register(ExchangeAccount)
class ExchangeAccountAdmin(admin.ModelAdmin):
    list_display = ["label", "organization", "exchange_id", "mode", "credential_kind", "fingerprint", "status"]
    list_filter = ["mode", "exchange_id", "status", "credential_kind"]
    search_fields = ["label", "fingerprint", "organization__name", "organization__slug"]
    exclude = ["credentials_encrypted"]
    readonly_fields = [
        "fingerprint",
        "credential_kind",
        "main_key_risk_accepted_at",
        "status",
        "last_checked_at",
        "last_check_message",
        "created_at",
        "credentials_updated_at",
    ]
    raw_id_fields = ["organization", "created_by"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ExchangeAccount]:
        return ExchangeAccount.all_objects.select_related("organization")


@admin.register(CandleSeries)
class CandleSeriesAdmin(admin.ModelAdmin):
    """Candles are shared data: support sees each series' extent and ingestion state."""

    list_display = [
        "exchange",
        "symbol",
        "market_type",
        "timeframe",
        "candle_count",
        "first_open_time",
        "last_open_time",
        "ingest_enabled",
        "ingest_status",
    ]
    list_filter = ["exchange", "timeframe", "market_type", "ingest_enabled", "ingest_status"]
    search_fields = ["exchange", "symbol"]
    readonly_fields = [
        "first_open_time",
        "last_open_time",
        "candle_count",
        "ingest_cursor",
        "ingest_status",
        "ingest_error",
        "ingest_progress",
        "ingest_started_at",
        "ingest_finished_at",
        "updated_at",
    ]


@admin.register(CandleImport)
class CandleImportAdmin(admin.ModelAdmin):
    list_display = ["created_at", "series", "location", "rows_read", "inserted", "duplicate", "conflicting", "rejected"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(PaperAccount)
class PaperAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "quote_asset", "cash_balance", "is_default", "created_at"]
    search_fields = ["name", "organization__name", "organization__slug"]
    raw_id_fields = ["organization", "exchange_account"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PaperAccount]:
        return PaperAccount.all_objects.select_related("organization")
