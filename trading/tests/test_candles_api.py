"""The candles API and the market data page, over candles imported from the shared data."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.tests.api_helpers import issue_key, key_client
from trading.marketdata.importers import candles_import_csv

DAILY_BTC = Path(settings.SHARED_DATA_DIR) / "market" / "BTCUSDT_1d.csv"
pytestmark = pytest.mark.skipif(not DAILY_BTC.exists(), reason=f"the shared data set is absent: {DAILY_BTC}")


def _first_rows(n: int) -> list[list[str]]:
    """The file's first data rows, read independently of the importer."""
    lines = DAILY_BTC.read_text().splitlines()
    header = lines[0].split(",")
    assert header[:6] == ["timestamp", "open", "high", "low", "close", "volume"], header
    return [line.split(",") for line in lines[1 : n + 1]]


@pytest.fixture
def daily_btc(db):
    candles_import_csv(location=DAILY_BTC, exchange="binance", symbol="BTC/USDT", timeframe="1d", market_type="spot")


def _query(client, org, **params):
    defaults = {"exchange": "binance", "symbol": "BTC/USDT", "market_type": "spot", "timeframe": "1d"}
    return client.get(reverse("candle-list", args=[org.slug]), {**defaults, **params})


def test_candles_come_back_as_decimal_strings_oldest_first_and_page(team, daily_btc):
    client = key_client(issue_key(team.org, team.viewer, scopes=["read"]))
    first = _query(client, team.org, limit=3)
    assert first.status_code == 200, first.content
    body = first.json()
    expected = _first_rows(4)
    assert [Decimal(c["close"]) for c in body["candles"]] == [Decimal(row[4]) for row in expected[:3]]
    assert body["candles"][0]["open_time"].startswith("2017-08-17T00:00:00")
    second = _query(client, team.org, limit=3, start=body["next_start"]).json()
    assert Decimal(second["candles"][0]["close"]) == Decimal(expected[3][4])


def test_the_last_daily_candle_is_marked_as_still_forming(team, daily_btc):
    client = key_client(issue_key(team.org, team.viewer, scopes=["read"]))
    body = _query(client, team.org, start=datetime(2026, 1, 1, tzinfo=UTC).isoformat()).json()
    assert body["candles"][-1]["open_time"].startswith("2026-01-06")
    assert body["candles"][-1]["is_closed"] is False
    assert all(c["is_closed"] for c in body["candles"][:-1])


@pytest.mark.parametrize(
    "params,field",
    [
        ({"timeframe": "7m"}, "timeframe"),
        ({"market_type": "option"}, "market_type"),
        ({"limit": 0}, "limit"),
        ({"start": "2020-01-02", "end": "2020-01-01"}, "end"),
        ({"surprise": "1"}, "surprise"),
    ],
)
def test_bad_queries_get_a_400_naming_the_field(team, daily_btc, client_for, params, field):
    response = _query(client_for(team.viewer), team.org, **params)
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_series_are_listed_with_their_extent(team, daily_btc, client_for):
    rows = client_for(team.viewer).get(reverse("candle-series-list", args=[team.org.slug])).json()
    btc = next(r for r in rows if r["symbol"] == "BTC/USDT" and r["timeframe"] == "1d")
    assert btc["candle_count"] == len(DAILY_BTC.read_text().splitlines()) - 1
    assert btc["first_open_time"].startswith("2017-08-17")


def test_the_market_data_page_points_its_chart_at_the_api(team, daily_btc, client_for):
    page = client_for(team.viewer).get(reverse("candle_chart", args=[team.org.slug]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="candle-chart"' in html and "api/v1/orgs/" in html and "lightweight-charts" in html
    assert "TradingView" in html  # the attribution the chart library asks for
