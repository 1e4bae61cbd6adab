"""Support staff see exchange accounts (never their credentials, not even encrypted)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from trading.models import ExchangeAccount


@admin.register(ExchangeAccount)
class ExchangeAccountAdmin(admin.ModelAdmin):
    list_display = ["label", "organization", "exchange_id", "mode", "credential_kind", "fingerprint", "status"]
    list_filter = ["mode", "exchange_id", "status", "credential_kind"]
    search_fields = ["label", "fingerprint", "organization__name", "organization__slug"]
    exclude = ["credentials_encrypted"]
    readonly_fields = ["fingerprint", "credential_kind", "main_key_risk_accepted_at", "status", "last_checked_at",
                       "last_check_message", "created_at", "credentials_updated_at"]
    raw_id_fields = ["organization", "created_by"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ExchangeAccount]:
        return ExchangeAccount.all_objects.select_related("organization")
