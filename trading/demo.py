"""Trading's part of the demo (registered in ``TradingConfig.ready``): the shared market data sets."""

from __future__ import annotations

from accounts.demo import DemoContext
from trading.marketdata.importers import candles_import_csv

DEMO_MARKET_FILES = [
    ("market/BTCUSDT_1d.csv", "binance", "BTC/USDT", "1d"),
    ("market/ETHUSDT_1d.csv", "binance", "ETH/USDT", "1d"),
    ("market/BTCUSDT_1h.csv.gz", "binance", "BTC/USDT", "1h"),
    ("market/ETHUSDT_1h.csv.gz", "binance", "ETH/USDT", "1h"),
    ("news/DJIA_table.csv", None, None, None),  # the importer knows the DJIA table's series
]


def demo_market_data_seed(context: DemoContext) -> None:
    """Import the shared market data sets (re-running stores only duplicates)."""
    if not context.data_dir.is_dir():
        hint = "set SHARED_DATA_DIR to the data folder to seed candles"
        context.stdout.write(context.style.WARNING(f"No market data: {context.data_dir} is absent ({hint})."))
        return
    for relative, exchange, symbol, timeframe in DEMO_MARKET_FILES:
        path = context.data_dir / relative
        if not path.exists():
            context.stdout.write(context.style.WARNING(f"Skipped {path}: not found."))
            continue
        report = candles_import_csv(
            location=path, exchange=exchange, symbol=symbol, timeframe=timeframe, market_type="spot"
        )
        context.stdout.write(
            f"{relative}: {report.rows_read} rows, {report.stored.inserted} new, "
            f"{report.stored.duplicate} already stored, {report.rejected} rejected, {len(report.gaps)} gaps"
        )
