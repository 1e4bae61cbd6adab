"""trading.marketdata.importers.candles_import_csv and the import_candles command, on the real
data sets in ../shared/data and on small hand-written files with known faults.

Expected values come from outside the code under test: the README of the data sets (row counts,
ranges, 20 gaps / 59 hours), the file read with the csv module, or the files written here.
"""

from __future__ import annotations

import csv
import gzip
import http.server
import io
import itertools
import shutil
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from trading.marketdata.candles import SeriesKey
from trading.marketdata.importers import ImportFailed, candles_import_csv
from trading.models import Candle, CandleImport, CandleSeries

DATA = Path(settings.BASE_DIR).parent / "shared" / "data"
BTC_1H = DATA / "market" / "BTCUSDT_1h.csv.gz"
BTC_1D = DATA / "market" / "BTCUSDT_1d.csv"
DJIA = DATA / "news" / "DJIA_table.csv"

needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"the shared data sets are not on this machine ({DATA} is absent)"
)

HOURLY = SeriesKey("binance", "BTC/USDT", "spot", "1h")
DAILY = SeriesKey("binance", "BTC/USDT", "spot", "1d")
DJIA_SERIES = SeriesKey("index", "DJIA", "spot", "1d")

# The 20 gaps of BTCUSDT_1h.csv.gz as (first missing hour, last missing hour, hours), UTC. Listed
# by hand from a separate pass over the file (python's csv + datetime, run once outside this
# suite); test_the_hand_listed_gaps_match_the_file re-derives them the same way as a check.
BTC_1H_GAPS = [
    ("2019-03-12 02:00", "2019-03-12 07:00", 6),
    ("2019-05-15 03:00", "2019-05-15 12:00", 10),
    ("2019-08-15 02:00", "2019-08-15 09:00", 8),
    ("2019-11-13 02:00", "2019-11-13 03:00", 2),
    ("2019-11-25 02:00", "2019-11-25 03:00", 2),
    ("2020-02-09 02:00", "2020-02-09 02:00", 1),
    ("2020-02-19 12:00", "2020-02-19 16:00", 5),
    ("2020-03-04 10:00", "2020-03-04 10:00", 1),
    ("2020-04-25 02:00", "2020-04-25 03:00", 2),
    ("2020-06-28 02:00", "2020-06-28 04:00", 3),
    ("2020-11-30 06:00", "2020-11-30 06:00", 1),
    ("2020-12-21 15:00", "2020-12-21 17:00", 3),
    ("2020-12-25 02:00", "2020-12-25 02:00", 1),
    ("2021-02-11 04:00", "2021-02-11 04:00", 1),
    ("2021-03-06 02:00", "2021-03-06 02:00", 1),
    ("2021-04-20 02:00", "2021-04-20 03:00", 2),
    ("2021-04-25 05:00", "2021-04-25 07:00", 3),
    ("2021-08-13 02:00", "2021-08-13 05:00", 4),
    ("2021-09-29 07:00", "2021-09-29 08:00", 2),
    ("2023-03-24 13:00", "2023-03-24 13:00", 1),
]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def gap_tuples(report) -> list[tuple[str, str, int]]:
    return [(f"{gap.start:%Y-%m-%d %H:%M}", f"{gap.end:%Y-%m-%d %H:%M}", gap.missing) for gap in report.gaps]


def write(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


# --- the real data sets ------------------------------------------------------------------


@needs_data
def test_the_hand_listed_gaps_match_the_file():
    with gzip.open(BTC_1H, "rt", newline="") as handle:
        times = [datetime.fromisoformat(row["ts"]) for row in csv.DictReader(handle)]
    hour = timedelta(hours=1)
    derived = [
        (f"{a + hour:%Y-%m-%d %H:%M}", f"{b - hour:%Y-%m-%d %H:%M}", (b - a) // hour - 1)
        for a, b in itertools.pairwise(times)
        if b - a != hour
    ]
    assert derived == BTC_1H_GAPS
    assert sum(missing for *_, missing in derived) == 59


@needs_data
def test_importing_the_hourly_file_reports_exactly_its_20_gaps(db):
    report = candles_import_csv(location=BTC_1H, exchange="binance", symbol="BTC/USDT", timeframe="1h")

    assert gap_tuples(report) == BTC_1H_GAPS
    assert report.missing == 59
    assert (report.rows_read, report.rejected, report.stored.inserted) == (65_653, 0, 65_653)
    assert report.stored.first_open_time == utc("2019-01-01 00:00")
    assert report.stored.last_open_time == utc("2026-06-30 23:00")
    assert Candle.objects.filter(**HOURLY.filter()).count() == 65_653


@needs_data
def test_reimporting_the_hourly_file_inserts_nothing(db):
    candles_import_csv(location=BTC_1H, exchange="binance", symbol="BTC/USDT", timeframe="1h")

    again = candles_import_csv(location=BTC_1H, exchange="binance", symbol="BTC/USDT", timeframe="1h")

    stored = again.stored
    assert (stored.inserted, stored.duplicate, stored.conflicting, stored.updated_forming) == (0, 65_653, 0, 0)
    assert Candle.objects.filter(**HOURLY.filter()).count() == 65_653


@needs_data
def test_the_partial_last_daily_candle_is_stored_not_closed(db):
    report = candles_import_csv(location=BTC_1D, exchange="binance", symbol="BTC/USDT", timeframe="1d")

    assert (report.rows_read, report.stored.inserted, report.gaps) == (3_065, 3_065, [])
    last = Candle.objects.get(**DAILY.filter(), open_time=utc("2026-01-06 00:00"))
    assert last.is_closed is False
    assert last.close == Decimal("93888.85")  # the file's last row
    assert Candle.objects.filter(**DAILY.filter(), is_closed=True).count() == 3_064
    assert report.newest_forming == utc("2026-01-06 00:00")


@needs_data
def test_a_modified_copy_reports_one_conflict_and_keeps_the_stored_value(db, tmp_path):
    candles_import_csv(location=BTC_1D, exchange="binance", symbol="BTC/USDT", timeframe="1d")
    lines = BTC_1D.read_text().splitlines()
    header, row = lines[0].split(","), lines[1000].split(",")
    fields = dict(zip(header, row, strict=True))
    assert fields["close"] != fields["high"]  # so the changed close stays within [low, high]
    lines[1000] = ",".join(fields["high"] if name == "close" else fields[name] for name in header)
    copy = write(tmp_path / "BTCUSDT_1d_modified.csv", "\n".join(lines) + "\n")

    report = candles_import_csv(location=copy, exchange="binance", symbol="BTC/USDT", timeframe="1d")

    assert (report.stored.conflicting, report.stored.inserted, report.stored.duplicate) == (1, 0, 3_064)
    [conflict] = report.stored.conflicts
    moment = utc(fields["timestamp"])
    assert conflict.open_time == moment
    assert (conflict.stored["close"], conflict.incoming["close"]) == (Decimal(fields["close"]), Decimal(fields["high"]))
    assert Candle.objects.get(**DAILY.filter(), open_time=moment).close == Decimal(fields["close"])


@needs_data
def test_the_djia_table_imports_newest_first_with_its_defaults(db):
    with DJIA.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    newest, oldest = rows[0], rows[-1]

    report = candles_import_csv(location=DJIA)

    assert report.series == DJIA_SERIES and report.format == "djia"
    assert (report.rows_read, report.rejected, report.stored.inserted) == (1_989, 0, 1_989)
    assert report.stored.first_open_time == utc("2008-08-08 00:00")
    assert report.stored.last_open_time == utc("2016-07-01 00:00")
    stored = Candle.objects.filter(**DJIA_SERIES.filter()).order_by("open_time")
    assert stored.count() == 1_989
    first, last = stored.first(), stored.last()
    assert (first.open_time, first.open, first.close) == (
        utc(oldest["Date"]),
        Decimal(oldest["Open"]),
        Decimal(oldest["Close"]),
    )
    assert (last.open_time, last.high, last.volume) == (
        utc(newest["Date"]),
        Decimal(newest["High"]),
        Decimal(newest["Volume"]),
    )
    assert last.is_closed is True  # an end-of-day table holds finished days


@needs_data
def test_djia_weekends_are_not_gaps_but_missing_weekdays_are(db):
    with DJIA.open(newline="") as handle:
        dates = {datetime.fromisoformat(row["Date"]).date() for row in csv.DictReader(handle)}
    day, missing_weekdays = min(dates), 0
    while day < max(dates):
        missing_weekdays += day.weekday() < 5 and day not in dates
        day += timedelta(days=1)

    report = candles_import_csv(location=DJIA)

    assert report.missing == missing_weekdays > 0  # market holidays
    assert all(gap.start.weekday() < 5 and gap.end.weekday() < 5 for gap in report.gaps)
    assert CandleSeries.objects.get(**DJIA_SERIES.filter()).calendar == CandleSeries.Calendar.WEEKDAYS


# --- bad files ---------------------------------------------------------------------------

BAD_ROWS = """
ts,open,high,low,close,volume
2024-01-01 00:00:00+00:00,100,101,99,100.5,7
2024-01-01 01:00:00+00:00,abc,101,99,100.5,7
2024-01-01 02:00:00+00:00,100,98,99,100.5,7
2024-01-01 03:00:00+00:00,100,101,99,100.5,-1
2024-01-01 03:30:00+00:00,100,101,99,100.5,7
2024-01-01 04:00:00+00:00,100,101,99,100.5,7
2024-01-01 04:00:00+00:00,100,101,99,100.6,7
not-a-date,100,101,99,100.5,7
2024-01-01 05:00:00+00:00,100,101,99
2024-01-01 06:00:00+00:00,100,101,99,,7

2024-01-01 07:00:00+00:00,100,101,99,100.5,7
"""


def test_bad_rows_are_rejected_with_line_and_reason_and_good_rows_kept(db, tmp_path):
    path = write(tmp_path / "bad.csv", BAD_ROWS)

    report = candles_import_csv(location=path, exchange="test", symbol="BTC/USDT", timeframe="1h", last_partial="no")

    reasons = {item.line: item.reason for item in report.rejections}
    assert sorted(reasons) == [3, 4, 5, 6, 8, 9, 10, 11]
    assert reasons[3] == "open 'abc' is not a number"
    assert reasons[4] == "high 98 is below low 99"
    assert reasons[5] == "volume -1 is negative"
    assert "not aligned to the timeframe" in reasons[6] and "03:30" in reasons[6]
    assert reasons[8].startswith("duplicate timestamp") and "line 7" in reasons[8]
    assert reasons[9].startswith("timestamp 'not-a-date' is not a date or time")
    assert reasons[10] == "expected 6 fields, found 4"
    assert reasons[11] == "close is empty"
    assert (report.rows_read, report.rejected, report.stored.inserted) == (11, 8, 3)
    series = SeriesKey("test", "BTC/USDT", "spot", "1h")
    kept = Candle.objects.filter(**series.filter()).order_by("open_time")
    assert [row.open_time.hour for row in kept] == [0, 4, 7]
    assert kept.get(open_time=utc("2024-01-01 04:00")).close == Decimal("100.5")  # the first of the duplicates
    assert gap_tuples(report) == [
        ("2024-01-01 01:00", "2024-01-01 03:00", 3),
        ("2024-01-01 05:00", "2024-01-01 06:00", 2),
    ]


def test_reordered_columns_and_other_time_zones_are_read_and_converted_to_utc(db, tmp_path):
    path = write(
        tmp_path / "reordered.csv",
        """
Volume,Close,Low,High,Open,Timestamp
7,100.5,99,101,100,2024-01-01 02:00:00+02:00
8,101.5,100,102,101,2024-01-01T02:00:00+01:00
9,102.5,101,103,102,2024-01-01T02:00:00Z
10,103.5,102,104,103,2024-01-01 03:00:00
11,104.5,103,105,104,1704081600000
""",
    )

    report = candles_import_csv(location=path, exchange="test", symbol="ETH/USDT", timeframe="1h", last_partial="no")

    assert (report.rejected, report.stored.inserted, report.gaps) == (0, 5, [])
    series = SeriesKey("test", "ETH/USDT", "spot", "1h")
    rows = list(
        Candle.objects.filter(**series.filter()).order_by("open_time").values_list("open_time", "open", "volume")
    )
    assert rows == [(utc(f"2024-01-01 {hour:02d}:00"), Decimal(100 + hour), Decimal(7 + hour)) for hour in range(5)]


def test_a_daily_file_in_another_time_zone_is_rejected_as_not_aligned(db, tmp_path):
    path = write(
        tmp_path / "daily.csv",
        """
timestamp,open,high,low,close,volume
2024-01-01T00:00:00+02:00,100,101,99,100.5,7
2024-01-02T02:00:00+02:00,100,101,99,100.5,7
""",
    )

    report = candles_import_csv(location=path, exchange="test", symbol="BTC/USDT", timeframe="1d")

    [rejection] = report.rejections
    assert rejection.line == 2
    assert "2023-12-31 22:00:00 UTC is not aligned" in rejection.reason and "+02:00" in rejection.reason
    assert report.stored.inserted == 1


def test_a_semicolon_separated_gzip_file_is_recognised_by_content(db, tmp_path):
    text = "date;open;high;low;close;volume\n2024-01-01;1;2;0.5;1.5;10\n2024-01-02;1.5;2;1;1.75;11\n"
    path = tmp_path / "prices.csv"  # gzip without the .gz name
    path.write_bytes(gzip.compress(text.encode()))

    report = candles_import_csv(location=path, exchange="test", symbol="SOL/USDT", timeframe="1d", last_partial="no")

    assert (report.stored.inserted, report.rejected) == (2, 0)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("ts,open,high,low,close,volume,foo", "unknown column(s) 'foo'"),
        ("ts,open,high,low,close", "missing column(s) volume"),
        ("open,high,low,close,volume", "exactly one time column (none found)"),
        ("ts,date,open,high,low,close,volume", "exactly one time column (ts, date found)"),
        ("ts,open,open,high,low,close,volume", "open appear twice"),
    ],
)
def test_a_header_that_does_not_fit_stops_the_import_with_a_clear_error(db, tmp_path, header, message):
    path = write(tmp_path / "odd.csv", header + "\n")

    with pytest.raises(ImportFailed) as raised:
        candles_import_csv(location=path, exchange="test", symbol="BTC/USDT", timeframe="1h")

    assert message in raised.value.detail
    assert "expected the columns of ohlcv" in raised.value.detail
    assert not Candle.objects.exists()


def test_a_series_must_be_named_for_the_generic_format(db, tmp_path):
    path = write(tmp_path / "x.csv", "ts,open,high,low,close,volume\n")

    with pytest.raises(ImportFailed, match="give --exchange, --symbol, --timeframe"):
        candles_import_csv(location=path)


def test_a_missing_shared_folder_is_named(db):
    location = DATA.parent / "no-such-folder" / "BTCUSDT_1h.csv.gz"

    with pytest.raises(ImportFailed, match="no-such-folder is absent") as raised:
        candles_import_csv(location=location, exchange="binance", symbol="BTC/USDT", timeframe="1h")

    assert "Pass any path or http(s) URL" in raised.value.detail


def test_an_absent_shared_data_folder_is_said_so(db, settings, tmp_path):
    settings.BASE_DIR = tmp_path / "project"  # a machine without ../shared/data
    location = tmp_path / "shared" / "data" / "market" / "BTCUSDT_1h.csv.gz"

    with pytest.raises(ImportFailed, match="this machine has none"):
        candles_import_csv(location=location, exchange="binance", symbol="BTC/USDT", timeframe="1h")


def test_a_truncated_gzip_file_stores_nothing(db, tmp_path):
    rows = "".join(f"2024-01-01 {hour:02d}:00:00+00:00,1,2,0.5,1.5,10\n" for hour in range(24))
    whole = gzip.compress(("ts,open,high,low,close,volume\n" + rows * 50).encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])

    with pytest.raises(ImportFailed, match="could not be read to the end"):
        candles_import_csv(location=path, exchange="test", symbol="BTC/USDT", timeframe="1h")

    assert not Candle.objects.exists()


def test_a_url_is_streamed_like_a_file(db, tmp_path):
    path = tmp_path / "served.csv.gz"
    path.write_bytes(gzip.compress(b"ts,open,high,low,close,volume\n2024-01-01 00:00:00+00:00,1,2,0.5,1.5,10\n"))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/served.csv.gz"
        report = candles_import_csv(location=url, exchange="test", symbol="BTC/USDT", timeframe="1h")
        with pytest.raises(ImportFailed, match="Could not download"):
            candles_import_csv(location=url + ".missing", exchange="test", symbol="BTC/USDT", timeframe="1h")
    finally:
        server.shutdown()
        server.server_close()

    assert report.stored.inserted == 1
    assert Candle.objects.get(exchange="test").source == "csv:served.csv.gz"


def test_the_report_is_saved_when_asked(db, tmp_path):
    path = write(tmp_path / "bad.csv", BAD_ROWS)

    report = candles_import_csv(location=path, exchange="test", symbol="BTC/USDT", timeframe="1h", save_report=True)

    saved = CandleImport.objects.get(pk=report.saved_id)
    assert (saved.rows_read, saved.inserted, saved.rejected, saved.missing) == (11, 3, 8, 5)
    assert saved.details["rejections"][0] == {"line": 3, "reason": "open 'abc' is not a number"}
    assert saved.series.exchange == "test"


# --- the command -------------------------------------------------------------------------


@needs_data
def test_the_command_prints_the_report(db, tmp_path):
    small = tmp_path / "BTCUSDT_1d_head.csv"
    shutil.copyfile(BTC_1D, small)
    out = io.StringIO()

    call_command(
        "import_candles", str(small), "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1d", stdout=out
    )

    text = out.getvalue()
    assert "rows read 3,065; inserted 3,065; duplicate 0; conflicting 0" in text
    assert "rejected 0" in text and "gaps 0 (0 missing periods)" in text
    assert "newest candle 2026-01-06 00:00 taken as still forming" in text


def test_the_command_lists_rejections_and_gaps(db, tmp_path):
    path = write(tmp_path / "bad.csv", BAD_ROWS)
    out = io.StringIO()

    call_command("import_candles", str(path), "--exchange=test", "--symbol=X/Y", "--timeframe=1h", stdout=out)

    text = out.getvalue()
    assert "rejected (8):" in text and "line 3: open 'abc' is not a number" in text
    assert "gaps (2):" in text and "2024-01-01 01:00 .. 2024-01-01 03:00 UTC (3 missing)" in text


def test_the_command_turns_a_failed_import_into_a_command_error(db, tmp_path):
    path = write(tmp_path / "odd.csv", "ts,open,high,low,close,volume,when\n")

    with pytest.raises(CommandError, match="unknown column"):
        call_command("import_candles", str(path), "--exchange=test", "--symbol=X/Y", "--timeframe=1h")
