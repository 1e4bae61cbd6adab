"""CSV candle files (a path or an http(s) URL, plain or gzip) into the store.

Formats, recognised from the header (column names are matched case-insensitively, in any order):

- ``ohlcv``: a time column (``timestamp``, ``ts``, ``open_time``, ``time``, ``date`` or ``datetime``)
  and ``open, high, low, close, volume``: the Binance kline files in ``../shared/data/market/``.
- ``djia``: ``Date, Open, High, Low, Close, Volume, Adj Close``, a daily index table in any row
  order, as ``../shared/data/news/DJIA_table.csv`` (newest first). Defaults to the series
  ``index DJIA spot 1d``; weekends are not gaps. ``Adj Close`` is not stored.

Times may be ISO 8601 dates or date-times with any UTC offset (converted to UTC; a time without
an offset is taken as UTC) or Unix seconds, milliseconds or microseconds. A date is the period
starting at 00:00 UTC that day.

Which candles are stored as still forming (``is_closed=False``):

1. a candle whose period has not ended at import time (``candles_upsert`` enforces it), and
2. the newest row of the file when ``last_partial`` says so. A file does not record when it was
   captured, and its modification time says when it was copied, not when the exchange wrote it
   (the shipped files are all dated after their last row), so it cannot be decided from the file.
   ``auto`` follows the format: exchange kline exports (``ohlcv``) end with the candle that was
   forming when they were taken (``BTCUSDT_1d.csv`` does), so their newest row is stored as
   forming; an end-of-day table (``djia``) holds finished days. ``yes``/``no`` override.
   Storing a finished candle as forming costs little: the next import or ingestion that brings
   it closes it. The opposite mistake would freeze a partial candle as final.

Bad rows are rejected with their line number and reason and the good rows are stored; an error
that stops the whole file (unreadable, bad header, broken gzip) stores nothing.
"""

from __future__ import annotations

import csv
import gzip
import io
import urllib.error
import urllib.request
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO

import numpy as np
from django.conf import settings
from django.db import transaction

from asterweb.errors import ApplicationError
from trading.exchanges.base import Candle
from trading.marketdata.candles import EPOCH, SeriesKey, candle_problem, from_epoch
from trading.marketdata.gaps import Gap, gaps_find
from trading.marketdata.services import UpsertResult, candles_upsert, series_get_or_create
from trading.models import CandleImport, CandleSeries

REJECTION_DETAIL_LIMIT = 1000
URL_TIMEOUT_SECONDS = 60
AMOUNTS = ("open", "high", "low", "close", "volume")
LAST_PARTIAL_CHOICES = ("auto", "yes", "no")


class ImportFailed(ApplicationError):
    """The file as a whole cannot be imported (missing, unreadable, unknown header); nothing was stored."""

    code = "import_failed"


@dataclass(frozen=True)
class CsvFormat:
    name: str
    time_columns: tuple[str, ...]  # accepted names of the time column, lower-case
    ignored: frozenset[str] = frozenset()  # known columns that are not stored
    series_defaults: dict[str, str] = field(default_factory=dict)
    calendar: str = CandleSeries.Calendar.ALWAYS
    newest_may_be_forming: bool = True  # what ``last_partial="auto"`` means for this format

    def describe(self) -> str:
        extra = "".join(f", {name}" for name in sorted(self.ignored))
        return f"{self.name}: {' | '.join(self.time_columns)}, open, high, low, close, volume{extra}"


FORMATS = {
    "ohlcv": CsvFormat("ohlcv", time_columns=("timestamp", "ts", "open_time", "time", "date", "datetime")),
    "djia": CsvFormat(
        "djia",
        time_columns=("date",),
        ignored=frozenset({"adj close"}),
        series_defaults={"exchange": "index", "symbol": "DJIA", "market_type": "spot", "timeframe": "1d"},
        calendar=CandleSeries.Calendar.WEEKDAYS,
        newest_may_be_forming=False,
    ),
}


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    """What an import read, stored, refused and found missing."""

    location: str
    format: str
    series: SeriesKey
    rows_read: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)  # the first REJECTION_DETAIL_LIMIT
    stored: UpsertResult = field(default_factory=UpsertResult)
    gaps: list[Gap] = field(default_factory=list)
    newest_forming: datetime | None = None  # the newest row, when it was taken as still forming
    saved_id: int | None = None  # the CandleImport row, when the report was saved

    @property
    def missing(self) -> int:
        return sum(gap.missing for gap in self.gaps)

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < REJECTION_DETAIL_LIMIT:
            self.rejections.append(Rejection(line, reason))

    def summary(self) -> list[str]:
        stored = self.stored
        lines = [
            f"{self.location} ({self.format}) -> {self.series}",
            f"rows read {self.rows_read:,}; inserted {stored.inserted:,}; duplicate {stored.duplicate:,}; "
            f"conflicting {stored.conflicting:,}; updated forming {stored.updated_forming:,}; "
            f"ignored forming {stored.ignored_forming:,}; rejected {self.rejected:,}",
        ]
        if stored.first_open_time:
            lines.append(f"range {stored.first_open_time:%Y-%m-%d %H:%M} .. {stored.last_open_time:%Y-%m-%d %H:%M} UTC")
        if self.newest_forming:
            lines.append(f"newest candle {self.newest_forming:%Y-%m-%d %H:%M} taken as still forming (is_closed=False)")
        lines.append(f"gaps {len(self.gaps)} ({self.missing:,} missing periods)")
        return lines

    def as_json(self) -> dict:
        stored = self.stored
        return {
            "location": self.location,
            "format": self.format,
            "series": str(self.series),
            "rows_read": self.rows_read,
            "inserted": stored.inserted,
            "duplicate": stored.duplicate,
            "conflicting": stored.conflicting,
            "updated_forming": stored.updated_forming,
            "ignored_forming": stored.ignored_forming,
            "rejected": self.rejected,
            "rejections": [{"line": item.line, "reason": item.reason} for item in self.rejections],
            "conflicts": [conflict.as_json() for conflict in stored.conflicts],
            "gaps": [gap.as_json() for gap in self.gaps],
            "missing": self.missing,
            "newest_forming": self.newest_forming.isoformat() if self.newest_forming else None,
        }


def candles_import_csv(
    *,
    location: str | Path,
    exchange: str | None = None,
    symbol: str | None = None,
    market_type: str | None = None,
    timeframe: str | None = None,
    format: str = "auto",
    last_partial: str = "auto",
    save_report: bool = False,
    now: datetime | None = None,
) -> ImportReport:
    """Import the CSV at ``location`` (path or URL) into a series and report what happened.

    The series comes from the arguments, falling back on the format's defaults. See the module
    docstring for formats, time zones and which candles are stored as forming.
    """
    if last_partial not in LAST_PARTIAL_CHOICES:
        raise ImportFailed(f"last_partial must be one of {', '.join(LAST_PARTIAL_CHOICES)}, not {last_partial!r}.")
    location = str(location)
    with _open_text(location) as text:
        delimiter, header = _read_header(text, location)
        csv_format, columns = _match_header(header, format, location)
        series = _series(csv_format, exchange=exchange, symbol=symbol, market_type=market_type, timeframe=timeframe)
        report = ImportReport(location=location, format=csv_format.name, series=series)
        newest_forming = last_partial == "yes" or (last_partial == "auto" and csv_format.newest_may_be_forming)
        accepted = array("q")  # open times of the good rows, for the gap report
        rows = _candles(csv.reader(text, delimiter=delimiter), columns, series, report, accepted, newest_forming)
        try:
            with transaction.atomic():
                series_get_or_create(series=series, calendar=csv_format.calendar)
                report.stored = candles_upsert(
                    series=series, candles=rows, source=f"csv:{_file_name(location)}", now=now
                )
                report.gaps = gaps_find(
                    np.frombuffer(accepted, dtype=np.int64),
                    timeframe=series.timeframe,
                    weekdays_only=csv_format.calendar == CandleSeries.Calendar.WEEKDAYS,
                )
                if save_report:
                    report.saved_id = _save(report)
        except (OSError, EOFError, zlib.error, csv.Error, UnicodeDecodeError) as error:
            raise ImportFailed(f"{location} could not be read to the end ({error}); nothing was stored.") from error
    return report


def _file_name(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[-1][:56]


# --- reading -----------------------------------------------------------------------------


def _open_text(location: str) -> IO[str]:
    """A text stream of the file or URL, decompressed when it is gzip (by content, not name)."""
    if location.startswith(("http://", "https://")):
        try:
            raw = urllib.request.urlopen(location, timeout=URL_TIMEOUT_SECONDS)  # noqa: S310 - scheme checked above
        except (urllib.error.URLError, TimeoutError, ValueError) as error:
            raise ImportFailed(f"Could not download {location}: {error}.") from error
        binary: IO[bytes] = io.BufferedReader(raw)
    else:
        path = Path(location)
        if not path.is_file():
            raise ImportFailed(_missing_file_message(path))
        binary = path.open("rb")
    if binary.peek(2)[:2] == b"\x1f\x8b":
        binary = gzip.GzipFile(fileobj=binary)  # type: ignore[assignment]
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def _missing_file_message(path: Path) -> str:
    folder = path.parent
    shared = Path(settings.BASE_DIR).parent / "shared" / "data"
    if not folder.is_dir():
        hint = f"the folder {folder} is absent"
        if not shared.is_dir() and shared in (folder.resolve(), *folder.resolve().parents):
            hint += f" (the shared data sets live in {shared}, beside the project; this machine has none)"
        return f"{path} does not exist: {hint}. Pass any path or http(s) URL of a file in the same format."
    return f"{path} does not exist (or is not a file). Pass any path or http(s) URL of a file in the same format."


def _read_header(text: IO[str], location: str) -> tuple[str, list[str]]:
    try:
        first = text.readline()
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise ImportFailed(f"{location} is not a readable CSV file ({error}).") from error
    if not first.strip():
        raise ImportFailed(f"{location} is empty: expected a header line.")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    header = next(csv.reader([first], delimiter=delimiter))
    return delimiter, [name.strip().lower() for name in header]


@dataclass(frozen=True)
class _Columns:
    positions: dict[str, int]  # {"time": i, "open": j, ...}
    width: int  # fields per row


def _match_header(header: list[str], requested: str, location: str) -> tuple[CsvFormat, _Columns]:
    """The format, and where each column we read is."""
    if requested == "auto":
        csv_format = FORMATS["djia"] if "adj close" in header else FORMATS["ohlcv"]
    elif requested in FORMATS:
        csv_format = FORMATS[requested]
    else:
        raise ImportFailed(f"Unknown format {requested!r}; use auto or one of {', '.join(FORMATS)}.")
    expected = f"expected the columns of {csv_format.describe()}"
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise ImportFailed(f"{location}: column(s) {', '.join(duplicated)} appear twice in the header; {expected}.")
    time_columns = [name for name in header if name in csv_format.time_columns]
    if len(time_columns) != 1:
        found = "none" if not time_columns else ", ".join(time_columns)
        raise ImportFailed(f"{location}: needs exactly one time column ({found} found); {expected}.")
    known = {*csv_format.time_columns, *AMOUNTS, *csv_format.ignored}
    unknown = [name for name in header if name not in known]
    missing = [name for name in AMOUNTS if name not in header]
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"unknown column(s) {', '.join(repr(name) for name in unknown)}")
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        raise ImportFailed(f"{location}: {' and '.join(problems)} in the header; {expected}.")
    columns = {"time": header.index(time_columns[0]), **{name: header.index(name) for name in AMOUNTS}}
    return csv_format, _Columns(positions=columns, width=len(header))


def _series(csv_format: CsvFormat, **given: str | None) -> SeriesKey:
    values = {**csv_format.series_defaults, **{name: value for name, value in given.items() if value}}
    values.setdefault("market_type", "spot")
    missing = [name for name in ("exchange", "symbol", "timeframe") if not values.get(name)]
    if missing:
        options = ", ".join(f"--{name.replace('_', '-')}" for name in missing)
        raise ImportFailed(f"The {csv_format.name} format does not say which series this is: give {options}.")
    return SeriesKey(values["exchange"], values["symbol"], values["market_type"], values["timeframe"])


# --- rows --------------------------------------------------------------------------------


def parse_time(text: str) -> datetime:
    """An aware UTC datetime from ISO 8601 (any offset; none means UTC) or Unix s/ms/µs."""
    text = text.strip()
    if text.isdigit():
        value = int(text)
        scale = 1_000_000 if len(text) >= 16 else 1_000 if len(text) >= 13 else 1
        seconds, fraction = divmod(value, scale)
        moment = from_epoch(seconds)
        return moment.replace(microsecond=fraction * (1_000_000 // scale)) if fraction else moment
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_row(row: list[str], columns: _Columns) -> tuple[Candle | None, str]:
    """The candle of one row and its raw timestamp, or None and the reason it was refused."""
    if len(row) != columns.width:
        return None, f"expected {columns.width} fields, found {len(row)}"
    positions = columns.positions
    raw_time = row[positions["time"]]
    try:
        moment = parse_time(raw_time)
    except ValueError:
        return None, (
            f"timestamp {raw_time!r} is not a date or time (expected e.g. 2019-01-01 00:00:00+00:00, "
            "2019-01-01 or Unix seconds/milliseconds)"
        )
    values = {}
    for name in AMOUNTS:
        text = row[positions[name]].strip()
        if not text:
            return None, f"{name} is empty"
        try:
            values[name] = Decimal(text)
        except InvalidOperation:
            return None, f"{name} {text!r} is not a number"
    return Candle(open_time=moment, **values), raw_time


def _candles(
    reader,  # a csv.reader
    columns: _Columns,
    series: SeriesKey,
    report: ImportReport,
    accepted: array,
    newest_forming: bool,
) -> Iterator[Candle]:
    """The good candles of ``reader``; rejects the others into ``report``. With
    ``newest_forming`` the newest candle is held back and yielded last, as forming."""
    step, origin = series.step, series.origin
    first_line: dict[int, int] = {}
    newest: Candle | None = None
    for row in reader:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        report.rows_read += 1
        line = reader.line_num + 1  # the header was line 1, read before the reader started
        candle, detail = _parse_row(row, columns)
        if candle is None:
            report.reject(line, detail)
            continue
        problem = candle_problem(candle, step=step, origin=origin)
        if problem:
            report.reject(line, f"{problem} (timestamp {detail!r})" if problem.startswith("timestamp") else problem)
            continue
        epoch = (candle.open_time - EPOCH) // _SECOND
        if epoch in first_line:
            report.reject(line, f"duplicate timestamp {detail!r}: line {first_line[epoch]} has the same open time")
            continue
        first_line[epoch] = line
        accepted.append(epoch)
        if not newest_forming:
            yield candle
        elif newest is None or candle.open_time > newest.open_time:
            if newest is not None:
                yield newest
            newest = candle
        else:
            yield candle
    if newest is not None:
        report.newest_forming = newest.open_time
        yield Candle(newest.open_time, newest.open, newest.high, newest.low, newest.close, newest.volume, False)


_SECOND = from_epoch(1) - EPOCH


def _save(report: ImportReport) -> int:
    stored = report.stored
    return CandleImport.objects.create(
        series=series_get_or_create(series=report.series),
        location=report.location[:2000],
        format=report.format,
        rows_read=report.rows_read,
        inserted=stored.inserted,
        duplicate=stored.duplicate,
        conflicting=stored.conflicting,
        updated_forming=stored.updated_forming,
        ignored_forming=stored.ignored_forming,
        rejected=report.rejected,
        missing=report.missing,
        details=report.as_json(),
    ).pk
