"""trading.marketdata.ingestion.funding_rates_ingest, services.funding_rates_upsert and the task:
funding events collected page by page after the newest stored one, idempotent, with bad events
rejected with a reason and disagreeing ones reported, never overwritten.

The exchange is an in-memory adapter whose ``fetch_funding_rate_history`` behaves as CCXT's:
events from ``since`` on, oldest first, at most ``limit``; without ``since``, the latest ``limit``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache

from trading.exchanges.base import ExchangeUnavailable, FundingRate, UnknownSymbol
from trading.marketdata.ingestion import SourcesFailed, funding_rates_ingest
from trading.marketdata.selectors import funding_rate_last_time, funding_rates_between
from trading.marketdata.services import InvalidFundingRate, funding_rates_upsert
from trading.marketdata.tasks import ingest_funding_rates
from trading.models import FundingRate as StoredFundingRate

pytestmark = pytest.mark.django_db

BTC = "BTC/USDT:USDT"
T0 = datetime(2024, 6, 1, tzinfo=UTC)
EIGHT_HOURS = timedelta(hours=8)
D = Decimal


def event(index: int, *, rate: str | None = None, mark: str | None = "60000") -> FundingRate:
    """The index-th event after T0: rate 0.0001 + index * 0.000001 unless given."""
    value = D(rate) if rate is not None else D("0.0001") + index * D("0.000001")
    return FundingRate(BTC, value, T0 + index * EIGHT_HOURS, mark_price=D(mark) if mark else None)


class FakeFundingExchange:
    def __init__(self, events: list[FundingRate]) -> None:
        self.exchange_id = "aster"
        self.events = events
        self.calls: list[datetime | None] = []
        self.failures: dict[int, Exception] = {}

    def fetch_funding_rate_history(self, symbol, *, since=None, limit=None):
        assert symbol == BTC
        self.calls.append(since)
        if len(self.calls) in self.failures:
            raise self.failures[len(self.calls)]
        limit = limit or 100
        if since is None:
            return self.events[-limit:]
        return [e for e in self.events if e.funding_time >= since][:limit]


def ingest(exchange: FakeFundingExchange, **options):
    options.setdefault("now", T0 + 30 * EIGHT_HOURS)
    return funding_rates_ingest(exchange="aster", symbol=BTC, adapter_for=lambda _: exchange, **options)


def stored() -> list[tuple[int, Decimal, Decimal | None]]:
    rows = StoredFundingRate.objects.filter(exchange="aster", symbol=BTC).order_by("funding_time")
    return [((row.funding_time - T0) // EIGHT_HOURS, row.rate, row.mark_price) for row in rows]


def test_it_collects_page_by_page_and_a_second_run_resumes_after_the_newest_stored():
    exchange = FakeFundingExchange([event(i) for i in range(12)])

    result = ingest(exchange, start=T0, page_limit=5)

    assert [index for index, _, _ in stored()] == list(range(12))
    assert stored()[3] == (3, D("0.000103"), D("60000"))
    # pages of 5 from T0, each after the newest event of the one before; the last finds nothing
    after = timedelta(milliseconds=1)
    assert exchange.calls == [
        T0,
        T0 + 4 * EIGHT_HOURS + after,
        T0 + 9 * EIGHT_HOURS + after,
        T0 + 11 * EIGHT_HOURS + after,
    ]
    assert (result.pages, result.stored.inserted, result.caught_up) == (3, 12, True)
    assert result.cursor == T0 + 11 * EIGHT_HOURS == funding_rate_last_time(exchange="aster", symbol=BTC)

    exchange.events += [event(12), event(13)]
    again = ingest(exchange, page_limit=5)

    assert exchange.calls[4] == T0 + 11 * EIGHT_HOURS + after  # resumed from the store
    assert (again.stored.inserted, again.stored.duplicate) == (2, 0)
    assert len(stored()) == 14


def test_without_start_or_anything_stored_it_takes_the_latest_page():
    exchange = FakeFundingExchange([event(i) for i in range(12)])

    ingest(exchange, page_limit=5)

    assert [index for index, _, _ in stored()] == list(range(7, 12))
    assert exchange.calls[0] is None


def test_collecting_the_same_events_again_stores_nothing_new():
    exchange = FakeFundingExchange([event(i) for i in range(6)])
    ingest(exchange, start=T0)

    again = ingest(exchange, start=T0)  # an explicit start before the cursor: the cursor wins

    assert again.stored.received == 0 and len(stored()) == 6
    assert funding_rates_upsert(exchange="aster", symbol=BTC, rates=[event(2), event(3)]).duplicate == 2


def test_an_event_that_disagrees_with_the_stored_one_is_a_conflict_and_the_stored_one_stays():
    funding_rates_upsert(exchange="aster", symbol=BTC, rates=[event(0), event(1)])

    result = funding_rates_upsert(exchange="aster", symbol=BTC, rates=[event(0), event(1, rate="0.0005"), event(2)])

    assert (result.received, result.inserted, result.duplicate, result.conflicting) == (3, 1, 1, 1)
    (conflict,) = result.conflicts
    assert conflict.open_time == T0 + EIGHT_HOURS
    assert (conflict.stored["rate"], conflict.incoming["rate"]) == (D("0.000101"), D("0.0005"))
    assert stored()[1] == (1, D("0.000101"), D("60000"))


def test_bad_events_are_rejected_with_a_reason_and_the_good_ones_kept():
    exchange = FakeFundingExchange(
        [
            event(0),
            event(1, rate="0.00000000000001"),  # 14 decimal places: would be rounded
            event(2, rate="NaN"),
            event(3),
        ]
    )

    result = ingest(exchange, start=T0)

    assert [index for index, _, _ in stored()] == [0, 3]
    assert result.rejected == 2
    assert "more than 12 decimal places" in result.rejections[0]
    assert "not a finite number" in result.rejections[1]
    with pytest.raises(InvalidFundingRate, match="Nothing was stored"):
        funding_rates_upsert(exchange="aster", symbol=BTC, rates=[event(5), event(6, mark="-1")])
    assert len(stored()) == 2


def test_events_after_now_or_end_are_not_stored():
    exchange = FakeFundingExchange([event(i) for i in range(10)])

    ingest(exchange, start=T0, end=T0 + 5 * EIGHT_HOURS, now=T0 + 8 * EIGHT_HOURS)
    assert [index for index, _, _ in stored()] == [0, 1, 2, 3, 4]
    ingest(exchange, now=T0 + 8 * EIGHT_HOURS)
    assert [index for index, _, _ in stored()] == list(range(9))  # up to now, inclusive


def test_a_failure_raises_after_keeping_the_pages_already_stored():
    exchange = FakeFundingExchange([event(i) for i in range(12)])
    exchange.failures[2] = ExchangeUnavailable("502")

    with pytest.raises(SourcesFailed) as raised:
        ingest(exchange, start=T0, page_limit=5)

    assert raised.value.retryable
    assert len(stored()) == 5
    ingest(exchange, page_limit=5)
    assert len(stored()) == 12


def test_the_stored_events_are_read_back_between_two_times():
    funding_rates_upsert(exchange="aster", symbol=BTC, rates=[event(i) for i in range(5)])

    rows = funding_rates_between(exchange="aster", symbol=BTC, since=T0 + EIGHT_HOURS, until=T0 + 3 * EIGHT_HOURS)

    assert [row.funding_time for row in rows] == [T0 + i * EIGHT_HOURS for i in (1, 2, 3)]
    assert funding_rates_between(exchange="binance", symbol=BTC, since=T0, until=T0 + 9 * EIGHT_HOURS).count() == 0


# --- the Celery task (eager in tests) ----------------------------------------------------------

EXCHANGES: dict[str, FakeFundingExchange] = {}


def fake_adapter_for(exchange_id: str) -> FakeFundingExchange:
    """MARKETDATA_ADAPTER_FACTORY for the task tests."""
    return EXCHANGES[exchange_id]


@pytest.fixture
def task_exchange(settings):
    settings.MARKETDATA_ADAPTER_FACTORY = f"{__name__}.fake_adapter_for"
    exchange = FakeFundingExchange([event(i) for i in range(6)])
    EXCHANGES["aster"] = exchange
    yield exchange
    EXCHANGES.clear()


def test_the_task_retries_a_transient_failure_and_collects(task_exchange):
    task_exchange.failures[1] = ExchangeUnavailable("timeout")

    outcome = ingest_funding_rates.apply(args=("aster", BTC, T0.isoformat()), throw=False).get()

    assert (outcome["inserted"], outcome["caught_up"]) == (6, True)
    assert task_exchange.calls[:2] == [T0, T0]  # the failed call, then the retry from the same place


def test_the_task_does_not_retry_what_cannot_succeed(task_exchange):
    task_exchange.failures[1] = UnknownSymbol("not listed")

    with pytest.raises(SourcesFailed, match="not listed"):
        ingest_funding_rates.delay("aster", BTC, T0.isoformat())


def test_a_duplicate_task_returns_at_once(task_exchange):
    cache.set(f"marketdata:funding:aster:{BTC}", "another worker", 60)

    assert ingest_funding_rates.delay("aster", BTC).get() == {"skipped": "already running"}
    assert task_exchange.calls == []
