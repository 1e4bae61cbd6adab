"""trading.marketdata.ingestion and tasks: paged collection through the adapter protocol, resuming
from the cursor, falling back to the next source, and the Celery task's retries.

The exchanges are in-memory adapters that implement ``fetch_ohlcv`` as CCXT exchanges behave:
candles from ``since`` on, oldest first, at most ``limit``; the last one still forming."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from celery.exceptions import Retry
from django.core.cache import cache

from trading.exchanges.base import Candle, ExchangeUnavailable, RateLimited, UnknownSymbol
from trading.marketdata.candles import SeriesKey
from trading.marketdata.ingestion import SourcesFailed, series_ingest, series_ingest_configure
from trading.marketdata.tasks import backoff_seconds, ingest_series
from trading.models import Candle as StoredCandle
from trading.models import CandleSeries

SERIES = SeriesKey("aster", "BTC/USDT:USDT", "perpetual", "1h")
T0 = datetime(2024, 6, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def make_candle(hour: int, *, price: str = "100", closed: bool = True) -> Candle:
    value = Decimal(price) + hour
    return Candle(T0 + hour * HOUR, value, value + 2, value - 1, value + 1, Decimal("3.5"), closed)


class FakeExchange:
    """An in-memory exchange serving hours ``0 .. hours-1`` after T0; ``now`` decides what is forming."""

    def __init__(self, exchange_id: str, hours: int, *, now: datetime, price: str = "100") -> None:
        self.exchange_id = exchange_id
        self.hours, self.now, self.price = hours, now, price
        self.calls: list[datetime | None] = []
        self.failures: dict[int, Exception] = {}  # call number (from 1) -> error to raise
        self.bad: dict[int, Candle] = {}  # hour -> a broken candle served instead

    def fetch_ohlcv(self, symbol, timeframe, *, since=None, limit=None):
        assert (symbol, timeframe) == (SERIES.symbol, SERIES.timeframe)
        self.calls.append(since)
        if len(self.calls) in self.failures:
            raise self.failures[len(self.calls)]
        first = 0 if since is None else max(0, -(-(since - T0) // HOUR))
        hours = [hour for hour in range(first, self.hours) if T0 + hour * HOUR <= self.now][: limit or 500]
        return [
            self.bad.get(hour) or make_candle(hour, price=self.price, closed=T0 + (hour + 1) * HOUR <= self.now)
            for hour in hours
        ]


def stored_hours() -> list[int]:
    times = StoredCandle.objects.filter(**SERIES.filter()).order_by("open_time").values_list("open_time", flat=True)
    return [(moment - T0) // HOUR for moment in times]


def test_it_collects_page_by_page_from_start_to_the_present(db):
    now = T0 + 23 * HOUR  # hour 23 has just opened: hours 0-22 are closed
    exchange = FakeExchange("aster", 48, now=now)

    result = series_ingest(series=SERIES, adapter_for={"aster": exchange}.__getitem__, start=T0, page_limit=5, now=now)

    assert stored_hours() == list(range(24))
    assert exchange.calls == [T0 + hour * HOUR for hour in range(0, 24, 5)]
    assert (result.pages, result.fetched, result.stored.inserted, result.caught_up) == (5, 24, 24, True)
    assert result.cursor == T0 + 22 * HOUR  # the newest closed candle
    assert StoredCandle.objects.get(**SERIES.filter(), open_time=T0 + 23 * HOUR).is_closed is False
    row = CandleSeries.objects.get(**SERIES.filter())
    assert (row.ingest_status, row.ingest_cursor, row.ingest_progress["inserted"]) == ("ok", T0 + 22 * HOUR, 24)
    assert set(StoredCandle.objects.filter(**SERIES.filter()).values_list("source", flat=True)) == {"aster"}


def test_it_resumes_from_its_cursor_after_a_failure(db):
    now = T0 + 30 * HOUR
    exchange = FakeExchange("aster", 30, now=now)
    exchange.failures[3] = ExchangeUnavailable("502 Bad Gateway")
    adapters = {"aster": exchange}.__getitem__

    with pytest.raises(SourcesFailed) as raised:
        series_ingest(series=SERIES, adapter_for=adapters, start=T0, page_limit=10, now=now)

    assert raised.value.retryable is True
    row = CandleSeries.objects.get(**SERIES.filter())
    assert (row.ingest_status, row.ingest_cursor) == ("failed", T0 + 19 * HOUR)
    assert "502 Bad Gateway" in row.ingest_error
    assert stored_hours() == list(range(20))

    exchange.calls.clear()
    result = series_ingest(series=SERIES, adapter_for=adapters, start=T0, page_limit=10, now=now)

    assert exchange.calls == [T0 + 20 * HOUR, T0 + 30 * HOUR]  # from the cursor, then one look at the present
    assert (result.stored.inserted, result.stored.duplicate, result.caught_up) == (10, 0, True)
    assert stored_hours() == list(range(30))
    assert CandleSeries.objects.get(**SERIES.filter()).ingest_status == "ok"


def test_a_failing_source_falls_back_to_the_next_for_that_window(db):
    now = T0 + 30 * HOUR
    primary = FakeExchange("aster", 30, now=now, price="100")
    backup = FakeExchange("binance", 30, now=now, price="200")
    primary.failures[2] = RateLimited("slow down", retry_after=3)
    series_ingest_configure(series=SERIES, sources=["aster", "binance"])

    result = series_ingest(
        series=SERIES, adapter_for={"aster": primary, "binance": backup}.__getitem__, start=T0, page_limit=10, now=now
    )

    assert backup.calls == [T0 + 10 * HOUR]  # only the window the primary failed
    # the next window starts with the primary again (the last call finds nothing newer)
    assert primary.calls == [T0, T0 + 10 * HOUR, T0 + 20 * HOUR, T0 + 30 * HOUR]
    rows = StoredCandle.objects.filter(**SERIES.filter())
    assert {(row.open_time - T0) // HOUR for row in rows.filter(source="binance")} == set(range(10, 20))
    assert rows.get(open_time=T0 + 15 * HOUR).open == Decimal("215")  # the backup's price
    assert rows.filter(source="aster").count() == 20
    assert result.supplied == {"aster": 20, "binance": 10}
    assert result.failures == ["2024-06-01 10:00 aster: RateLimited: slow down"]


def test_when_every_source_refuses_it_fails_without_retry(db):
    now = T0 + 5 * HOUR
    first, second = FakeExchange("aster", 5, now=now), FakeExchange("binance", 5, now=now)
    first.failures[1] = UnknownSymbol("aster does not list BTC/USDT:USDT")
    second.failures[1] = UnknownSymbol("binance does not list BTC/USDT:USDT")
    series_ingest_configure(series=SERIES, sources=["aster", "binance"])

    with pytest.raises(SourcesFailed) as raised:
        series_ingest(series=SERIES, adapter_for={"aster": first, "binance": second}.__getitem__, start=T0, now=now)

    assert raised.value.retryable is False
    assert "aster: UnknownSymbol" in str(raised.value) and "binance: UnknownSymbol" in str(raised.value)
    assert not StoredCandle.objects.exists()


def test_the_forming_candle_is_completed_by_the_next_run(db):
    exchange = FakeExchange("aster", 48, now=T0 + 5 * HOUR + 20 * timedelta(minutes=1))
    adapters = {"aster": exchange}.__getitem__
    series_ingest(series=SERIES, adapter_for=adapters, start=T0, now=exchange.now)
    assert StoredCandle.objects.get(**SERIES.filter(), open_time=T0 + 5 * HOUR).is_closed is False

    exchange.now = T0 + 7 * HOUR
    exchange.calls.clear()
    result = series_ingest(series=SERIES, adapter_for=adapters, now=exchange.now)

    assert exchange.calls == [T0 + 5 * HOUR]  # the cursor stopped before the forming candle
    assert (result.stored.updated_forming, result.stored.inserted) == (1, 2)
    assert StoredCandle.objects.get(**SERIES.filter(), open_time=T0 + 5 * HOUR).is_closed is True


def test_broken_candles_from_an_exchange_are_rejected_and_the_rest_stored(db):
    now = T0 + 10 * HOUR
    exchange = FakeExchange("aster", 10, now=now)
    exchange.bad[3] = Candle(T0 + 3 * HOUR, Decimal(5), Decimal(4), Decimal(6), Decimal(5), Decimal(1))
    exchange.bad[4] = Candle(T0 + 4 * HOUR + timedelta(minutes=1), *(Decimal(1),) * 5)

    result = series_ingest(series=SERIES, adapter_for={"aster": exchange}.__getitem__, start=T0, now=now)

    assert stored_hours() == [0, 1, 2, 5, 6, 7, 8, 9]
    assert result.rejected == 2
    assert result.rejections[0] == "aster 2024-06-01 03:00: high 4 is below low 6"
    assert "not aligned" in result.rejections[1]
    assert result.cursor == T0 + 9 * HOUR


def test_max_pages_stops_a_run_before_it_catches_up(db):
    now = T0 + 30 * HOUR
    exchange = FakeExchange("aster", 30, now=now)

    result = series_ingest(
        series=SERIES, adapter_for={"aster": exchange}.__getitem__, start=T0, page_limit=5, max_pages=2, now=now
    )

    assert (result.pages, result.caught_up, result.cursor) == (2, False, T0 + 9 * HOUR)


# --- the Celery task (eager in tests) ----------------------------------------------------

EXCHANGES: dict[str, FakeExchange] = {}


def fake_adapter_for(exchange_id: str) -> FakeExchange:
    """MARKETDATA_ADAPTER_FACTORY for the task tests."""
    return EXCHANGES[exchange_id]


@pytest.fixture
def task_exchange(settings):
    settings.MARKETDATA_ADAPTER_FACTORY = f"{__name__}.fake_adapter_for"
    exchange = FakeExchange("aster", 12, now=datetime.now(UTC))
    EXCHANGES["aster"] = exchange
    yield exchange
    EXCHANGES.clear()


def test_the_task_retries_transient_failures_and_finishes(db, task_exchange):
    row = series_ingest_configure(series=SERIES, sources=["aster"])
    task_exchange.failures[1] = ExchangeUnavailable("timeout")

    # throw=False: let Celery's eager mode run the retry, as a worker would after the countdown
    outcome = ingest_series.apply(args=(row.pk, T0.isoformat()), throw=False).get()

    assert outcome["inserted"] == 12 and outcome["caught_up"] is True
    # the failed call, the retry from the same place, then a look past the exchange's last candle
    assert task_exchange.calls == [T0, T0, T0 + 12 * HOUR]
    assert stored_hours() == list(range(12))


def test_the_task_waits_at_least_as_long_as_the_exchange_asks(db, task_exchange):
    row = series_ingest_configure(series=SERIES, sources=["aster"])
    task_exchange.failures[1] = RateLimited("429", retry_after=120)

    with pytest.raises(Retry) as raised:
        ingest_series.delay(row.pk, T0.isoformat())

    assert raised.value.when >= 120
    assert CandleSeries.objects.get(pk=row.pk).ingest_status == "failed"


def test_the_task_does_not_retry_what_cannot_succeed(db, task_exchange):
    row = series_ingest_configure(series=SERIES, sources=["aster"])
    task_exchange.failures[1] = UnknownSymbol("not listed")

    with pytest.raises(SourcesFailed, match="not listed"):
        ingest_series.delay(row.pk, T0.isoformat())


def test_backoff_grows_and_is_capped():
    assert 10 <= backoff_seconds(0) <= 12.5
    assert 80 <= backoff_seconds(3) <= 100
    assert backoff_seconds(20) <= 15 * 60 * 1.25
    assert backoff_seconds(0, retry_after=300) == 300


def test_the_task_continues_in_a_new_run_after_its_page_budget(db, task_exchange, django_capture_on_commit_callbacks):
    row = series_ingest_configure(series=SERIES, sources=["aster"])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = ingest_series.delay(row.pk, T0.isoformat(), None, 1).get()

    assert (first["pages"], first["caught_up"]) == (1, False)
    assert len(callbacks) == 1  # the continuation, enqueued after commit
    assert task_exchange.calls == [T0, T0 + 12 * HOUR]  # the second run resumed after the cursor
    assert stored_hours() == list(range(12))
    assert CandleSeries.objects.get(pk=row.pk).ingest_progress["caught_up"] is True


def test_a_duplicate_task_returns_at_once(db, task_exchange):
    row = series_ingest_configure(series=SERIES, sources=["aster"])
    cache.set(f"marketdata:ingest:{row.pk}", "another worker", 60)

    assert ingest_series.delay(row.pk).get() == {"skipped": "already running"}
    assert task_exchange.calls == []
