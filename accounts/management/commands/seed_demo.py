"""Seed a demo organization and users for `make run`. Idempotent; refuses production settings."""

from __future__ import annotations

from pathlib import Path

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Membership, Organization, User
from accounts.roles import Role
from accounts.services import membership_add, organization_create
from trading.marketdata.importers import candles_import_csv

DEMO_MARKET_FILES = [
    ("market/BTCUSDT_1d.csv", "binance", "BTC/USDT", "1d"),
    ("market/ETHUSDT_1d.csv", "binance", "ETH/USDT", "1d"),
    ("market/BTCUSDT_1h.csv.gz", "binance", "BTC/USDT", "1h"),
    ("market/ETHUSDT_1h.csv.gz", "binance", "ETH/USDT", "1h"),
    ("news/DJIA_table.csv", None, None, None),  # the importer knows the DJIA table's series
]
DEMO_ORG_SLUG = "demo"
DEMO_ORG_NAME = "Demo Trading Desk"


def _ensure_user(email: str, password: str, name: str) -> User:
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password, name=name)
    EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user


class Command(BaseCommand):
    help = "Create (or refresh) the demo organization and its users. Safe to run repeatedly."

    def handle(self, *args, **options) -> None:
        if settings.SETTINGS_MODULE.endswith(".prod"):
            raise CommandError("seed_demo refuses to run with production settings.")
        email = settings.DEMO_EMAIL
        with transaction.atomic():
            owner = _ensure_user(email, settings.DEMO_PASSWORD, "Demo Owner")
            organization = Organization.objects.filter(slug=DEMO_ORG_SLUG).first()
            if organization is None:
                organization = organization_create(user=owner, name=DEMO_ORG_NAME, slug=DEMO_ORG_SLUG)
            elif not Membership.objects.for_org(organization).filter(user=owner).exists():
                membership_add(organization=organization, user=owner, role=Role.OWNER)
            analyst = _ensure_user("analyst@asterai.local", settings.DEMO_PASSWORD, "Demo Analyst")
            membership_add(organization=organization, user=analyst, role=Role.TRADER)
        self._seed_market_data(Path(settings.SHARED_DATA_DIR))
        self._seed_pattern_corpora(Path(settings.SHARED_DATA_DIR))
        self.stdout.write(self.style.SUCCESS(f"Demo organization /o/{organization.slug}/ ready; sign in as {email}"))

    def _seed_pattern_corpora(self, data_dir: Path) -> None:
        """Public corpora (where this deployment enables them): rows and headlines now, the
        astro table and indexing in Celery (the worker of ``make run`` picks them up)."""
        if not settings.PATTERNS_PUBLIC_CORPORA or not data_dir.is_dir():
            return
        from patterns.tasks import astro_table_fill

        call_command("build_patterns", "--queue", "--skip-astro", stdout=self.stdout)
        astro_table_fill.delay()

    def _seed_market_data(self, data_dir: Path) -> None:
        """Import the shared market data sets (re-running stores only duplicates)."""
        if not data_dir.is_dir():
            self.stdout.write(
                self.style.WARNING(
                    f"No market data: {data_dir} is absent (set SHARED_DATA_DIR to the data folder to seed candles)."
                )
            )
            return
        for relative, exchange, symbol, timeframe in DEMO_MARKET_FILES:
            path = data_dir / relative
            if not path.exists():
                self.stdout.write(self.style.WARNING(f"Skipped {path}: not found."))
                continue
            report = candles_import_csv(
                location=path,
                exchange=exchange,
                symbol=symbol,
                timeframe=timeframe,
                market_type="spot",
            )
            self.stdout.write(
                f"{relative}: {report.rows_read} rows, {report.stored.inserted} new, "
                f"{report.stored.duplicate} already stored, {report.rejected} rejected, {len(report.gaps)} gaps"
            )
