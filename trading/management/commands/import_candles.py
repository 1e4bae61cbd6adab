"""Import a CSV file of candles (path or URL): ``manage.py import_candles FILE --exchange binance
--symbol BTC/USDT --market-type spot --timeframe 1h``. Formats and rules:
``trading.marketdata.importers``."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from asterweb.errors import ApplicationError
from trading.exchanges.base import TIMEFRAME_SECONDS, MarketType
from trading.marketdata.importers import FORMATS, LAST_PARTIAL_CHOICES, ImportReport, candles_import_csv

SHOWN = 20  # detail lines per section, unless -v 2


class Command(BaseCommand):
    help = (
        "Import OHLCV candles from a CSV file or URL (plain or gzip) and report rows read, inserted, "
        "duplicate, conflicting, rejected (with line numbers) and the gaps found."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("location", help="a path or an http(s) URL")
        parser.add_argument("--exchange", help="exchange id of the series, e.g. binance (djia: index)")
        parser.add_argument("--symbol", help="CCXT unified symbol, e.g. BTC/USDT (djia: DJIA)")
        parser.add_argument("--market-type", choices=list(MarketType), help="default: spot")
        parser.add_argument("--timeframe", choices=list(TIMEFRAME_SECONDS), help="e.g. 1h (djia: 1d)")
        parser.add_argument("--format", default="auto", choices=["auto", *FORMATS], help="default: from the header")
        parser.add_argument(
            "--last-partial",
            default="auto",
            choices=LAST_PARTIAL_CHOICES,
            help="store the newest row as still forming: auto (by format: yes for exchange exports), yes, no",
        )
        parser.add_argument("--save-report", action="store_true", help="keep the report as a CandleImport row")
        parser.add_argument("--json", action="store_true", help="print the full report as JSON")

    def handle(self, *args, **options) -> None:
        try:
            report = candles_import_csv(
                location=options["location"],
                exchange=options["exchange"],
                symbol=options["symbol"],
                market_type=options["market_type"],
                timeframe=options["timeframe"],
                format=options["format"],
                last_partial=options["last_partial"],
                save_report=options["save_report"],
            )
        except ApplicationError as error:
            raise CommandError(error.detail) from error
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json(), indent=2))
            return
        self._print(report, everything=options["verbosity"] >= 2)

    def _print(self, report: ImportReport, *, everything: bool) -> None:
        for line in report.summary():
            self.stdout.write(line)
        self._section("rejected", [str(item) for item in report.rejections], report.rejected, everything)
        conflicts = [
            f"{conflict.open_time:%Y-%m-%d %H:%M}: stored {_values(conflict.stored)}; file {_values(conflict.incoming)}"
            for conflict in report.stored.conflicts
        ]
        self._section("conflicts (stored values kept)", conflicts, report.stored.conflicting, everything)
        self._section("gaps", [str(gap) for gap in report.gaps], len(report.gaps), everything)
        if report.saved_id:
            self.stdout.write(f"report saved as CandleImport {report.saved_id}")
        style = self.style.WARNING if report.rejected or report.stored.conflicting else self.style.SUCCESS
        self.stdout.write(style("done"))

    def _section(self, title: str, lines: list[str], total: int, everything: bool) -> None:
        if not total:
            return
        self.stdout.write(f"{title} ({total:,}):")
        shown = lines if everything else lines[:SHOWN]
        for line in shown:
            self.stdout.write(f"  {line}")
        if total > len(shown):
            self.stdout.write(f"  ... and {total - len(shown):,} more (-v 2 or --json shows up to {len(lines):,})")


def _values(values: dict) -> str:
    return " ".join(f"{name}={value.normalize():f}" for name, value in values.items())
