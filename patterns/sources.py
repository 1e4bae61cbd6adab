"""Reading headlines: the shipped news sets and users' uploads (CSV or JSON).

Every reader returns the rows it accepted and, for each row it did not, the line (or item)
number and the reason, so a partly bad file keeps its good rows and the user sees exactly
what was skipped.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from django.conf import settings

from asterweb.errors import ApplicationError
from asterweb.parsers import MAX_JSON_DEPTH, json_problem, json_too_deep
from asterweb.request_limits import upload_limit_text
from patterns.encoders.astro import MAX_DATE, MIN_DATE
from patterns.encoders.news import clean_headline

MAX_HEADLINE_CHARS = 1000
MAX_UPLOAD_ROWS = 200_000
_DATE_COLUMNS = ("date", "day", "published", "published_at", "time", "timestamp")
_TEXT_COLUMNS = ("headline", "title", "text", "news", "event")
_SOURCE_COLUMNS = ("source", "publisher")
_MAX_REPORTED_REJECTIONS = 200


class UploadRejected(ApplicationError):
    """The file as a whole cannot be read (not a row-level problem)."""

    code = "upload_rejected"


@dataclass(frozen=True)
class HeadlineRow:
    day: date
    text: str
    source: str = ""


@dataclass
class ReadReport:
    """What a reader accepted and rejected."""

    rows: list[HeadlineRow] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line or item number, reason)
    rejected_count: int = 0
    read: int = 0

    def reject(self, where: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < _MAX_REPORTED_REJECTIONS:
            self.rejected.append((where, reason))

    def as_dict(self) -> dict:
        return {
            "read": self.read,
            "accepted": len(self.rows),
            "rejected": self.rejected_count,
            "rejections": [{"line": where, "reason": reason} for where, reason in self.rejected],
        }


def parse_day(value: object) -> date:
    """A calendar day from ``YYYY-MM-DD`` or an ISO date-time (converted to its UTC day)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return _in_range(value)
    else:
        text = str(value or "").strip()
        if not text:
            raise ValueError("the date is empty")
        try:
            moment = (
                datetime.combine(date.fromisoformat(text), datetime.min.time())
                if len(text) == 10
                else datetime.fromisoformat(text.replace("Z", "+00:00"))
            )
        except ValueError:
            raise ValueError(f"{text[:40]!r} is not a date (use YYYY-MM-DD)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return _in_range(moment.date())


def _in_range(day: date) -> date:
    if not MIN_DATE <= day <= MAX_DATE:
        raise ValueError(f"{day.isoformat()} is outside the supported range {MIN_DATE} to {MAX_DATE}")
    return day


def accept_row(report: ReadReport, where: int, raw_day: object, raw_text: object, source: object = "") -> None:
    report.read += 1
    try:
        day = parse_day(raw_day)
    except ValueError as error:
        report.reject(where, str(error))
        return
    text = clean_headline(raw_text)
    if text is None:
        report.reject(where, "the headline is empty")
        return
    if _has_surrogates(text):
        report.reject(where, "the text is not valid UTF-8")
        return
    if len(text) > MAX_HEADLINE_CHARS:
        report.reject(where, f"the headline is {len(text)} characters long (at most {MAX_HEADLINE_CHARS})")
        return
    report.rows.append(HeadlineRow(day=day, text=text, source=str(source or "").strip()[:120]))


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= character <= "\udcff" for character in text)


# ---------------------------------------------------------------- uploads


def upload_size_check(size: int) -> None:
    """Refuse a file over ``UPLOAD_MAX_BYTES`` by its size, before anyone reads it."""
    if size > settings.UPLOAD_MAX_BYTES:
        raise UploadRejected(
            f"The file is {size:,} bytes; the limit is {settings.UPLOAD_MAX_BYTES:,} ({upload_limit_text()})."
        )


def read_upload(content: bytes, filename: str) -> ReadReport:
    """Headlines from an uploaded CSV or JSON file (chosen by extension, else by content)."""
    upload_size_check(len(content))
    if not content.strip():
        raise UploadRejected("The file is empty.")
    if b"\x00" in content:
        line = content[: content.index(b"\x00")].count(b"\n") + 1
        raise UploadRejected(
            f"The file contains NUL bytes (first on line {line}): save it as UTF-8 text (it may be UTF-16 or binary)."
        )
    # Undecodable bytes become lone surrogates, so the rows they are in are rejected one by one.
    text = content.decode("utf-8-sig", errors="surrogateescape")
    is_json = filename.lower().endswith(".json") or text.lstrip()[:1] in ("[", "{")
    report = _read_json(text) if is_json else _read_csv(text)
    if report.read > MAX_UPLOAD_ROWS:
        raise UploadRejected(f"The file has {report.read:,} rows; the limit is {MAX_UPLOAD_ROWS:,}.")
    return report


def _pick(header: list[str], names: Iterable[str], what: str, required: bool = True) -> int | None:
    lowered = [name.strip().lower() for name in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    if required:
        raise UploadRejected(
            f"No {what} column: the header is {', '.join(header)!s}; name one column "
            f"{' or '.join(repr(name) for name in names)}."
        )
    return None


def _read_csv(text: str) -> ReadReport:
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t|", key=first_line.count)  # the header names the columns: its separator wins
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = _csv_rows(reader)
    header = next(rows, None)
    if not header:
        raise UploadRejected("The file has no header row.")
    day_column = _pick(header, _DATE_COLUMNS, "date")
    text_column = _pick(header, _TEXT_COLUMNS, "headline")
    source_column = _pick(header, _SOURCE_COLUMNS, "source", required=False)
    report = ReadReport()
    for row in rows:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(day_column, text_column):
            report.read += 1
            report.reject(line, f"expected {len(header)} columns, found {len(row)}")
            continue
        source = row[source_column] if source_column is not None and source_column < len(row) else ""
        accept_row(report, line, row[day_column], row[text_column], source)
    return report


def _csv_rows(reader: Any) -> Iterable[list[str]]:
    """The reader's rows; a line it cannot read (a field over the csv module's limit, usually
    from a quote that is never closed) rejects the file with its line number."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise UploadRejected(
                f"Line {reader.line_num} cannot be read: {error} characters (is a quote left open?)."
                if "field larger than field limit" in str(error)
                else f"Line {reader.line_num} cannot be read: {error}."
            ) from None


def _read_json(text: str) -> ReadReport:
    if json_too_deep(text):
        raise UploadRejected(f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep.")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UploadRejected(f"The file is not valid JSON: {error.msg} at line {error.lineno}.") from None
    problem = json_problem(data)
    if problem is not None:
        where, message = problem
        raise UploadRejected(f"The file cannot be read: {message}" + (f" (at {where})" if where else ""))
    if isinstance(data, dict):
        data = data.get("headlines", data.get("events"))
    if not isinstance(data, list):
        raise UploadRejected(
            'Expected a JSON list of {"date": "YYYY-MM-DD", "headline": "..."} objects '
            '(or {"date": ..., "headlines": [...]}).'
        )
    report = ReadReport()
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            report.read += 1
            report.reject(number, "item is not an object")
            continue
        raw_day = next((item[key] for key in _DATE_COLUMNS if key in item), None)
        source = next((item[key] for key in _SOURCE_COLUMNS if key in item), "")
        many = item.get("headlines")
        if isinstance(many, list):
            for text in many:
                accept_row(report, number, raw_day, text, source)
            continue
        raw_text = next((item[key] for key in _TEXT_COLUMNS if key in item), None)
        accept_row(report, number, raw_day, raw_text, source)
    return report


# ---------------------------------------------------------------- shipped data sets


def _missing(path: Path) -> UploadRejected:
    return UploadRejected(
        f"{path} does not exist. Set SHARED_DATA_DIR to the folder holding the shared data sets "
        "(market/ and news/), or pass another path of the same format."
    )


def _open_csv_text(path: Path) -> io.TextIOBase:
    """A text stream of ``path``, which may be a zip holding one CSV."""
    if not path.exists():
        raise _missing(path)
    if path.suffix == ".zip":
        archive = zipfile.ZipFile(path)
        members = [name for name in archive.namelist() if name.lower().endswith(".csv")]
        if len(members) != 1:
            raise UploadRejected(f"{path} should hold exactly one CSV file, it holds {members}.")
        return io.TextIOWrapper(archive.open(members[0]), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def read_reddit_news(path: Path) -> ReadReport:
    """``RedditNews.csv(.zip)``: ``Date,News`` rows (the Reddit WorldNews set)."""
    report = ReadReport()
    with _open_csv_text(path) as stream:
        reader = csv.reader(stream)
        header = next(reader, [])
        day_column = _pick(header, ("date",), "date")
        text_column = _pick(header, ("news",), "news")
        for row in reader:
            accept_row(report, reader.line_num, row[day_column] if row else "", row[text_column] if row else "")
    return report


def read_crypto_news(path: Path) -> ReadReport:
    """``cryptonews.csv``: semicolon separated, ``date`` like ``d-m-yyyy HH:MM`` (UTC)."""
    report = ReadReport()
    with _open_csv_text(path) as stream:
        reader = csv.reader(stream, delimiter=";")
        header = next(reader, [])
        day_column = _pick(header, ("date",), "date")
        text_column = _pick(header, ("title",), "title")
        source_column = _pick(header, ("source",), "source")
        for row in reader:
            if len(row) != len(header):
                report.read += 1
                report.reject(reader.line_num, f"expected {len(header)} columns, found {len(row)}")
                continue
            raw_day = row[day_column].strip()
            try:
                day = datetime.strptime(raw_day, "%d-%m-%Y %H:%M").date()
            except ValueError:
                report.read += 1
                report.reject(reader.line_num, f"{raw_day!r} is not a d-m-yyyy HH:MM date")
                continue
            accept_row(report, reader.line_num, day, row[text_column], row[source_column])
    return report
