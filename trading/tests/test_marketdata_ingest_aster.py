"""Ingestion end to end: the real CCXT adapter pages klines from the local Aster server into the
candle store, and a second run resumes from its cursor."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal

from django.utils import timezone

from trading.exchanges.registry import adapter_for
from trading.marketdata.candles import SeriesKey
from trading.marketdata.ingestion import series_ingest
from trading.marketdata.selectors import candles_range

HOUR_MS = 3_600_000


def test_ingestion_pages_aster_klines_into_the_store_and_resumes(db, aster_server):
    end = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    first = end - timedelta(hours=1199)
    first_ms = int(first.timestamp() * 1000)
    rows = [
        (first_ms + i * HOUR_MS, f"{60000 + i}.0", f"{60010 + i}.0", f"{59990 + i}.0", f"{60005 + i}.0", f"{i + 1}.000")
        for i in range(1200)
    ]
    aster_server.state.set_klines("BTCUSDT", "1h", rows)
    series = SeriesKey("aster", "BTC/USDT:USDT", "perpetual", "1h")

    def local_aster(exchange_id: str):
        return adapter_for(exchange_id, None, urls=aster_server.ccxt_urls(), rate_limit_ms=1)

    result = series_ingest(series=series, adapter_for=local_aster, start=first, page_limit=500)
    assert result.pages >= 3  # 1,200 candles in pages of at most 500
    stored = list(candles_range(series=series))
    assert len(stored) == 1200
    assert stored[0].open_time == first.astimezone(UTC)
    assert stored[-1].open_time == end
    assert (stored[7].open, stored[7].close, stored[7].volume) == (Decimal("60007"), Decimal("60012"), Decimal(8))
    assert all(candle.is_closed for candle in stored)

    again = series_ingest(series=series, adapter_for=local_aster, page_limit=500)
    assert again.supplied == {} or sum(again.supplied.values()) == 0
    assert len(list(candles_range(series=series))) == 1200
