"""Private corpora: create, add headlines (upload or by hand), delete. Every change is audited
and schedules an incremental indexing run after the transaction commits."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from kombu.exceptions import OperationalError as BrokerError

from accounts.models import Organization, User
from accounts.services.audit import audit_record
from asterweb.errors import ApplicationError, ConflictError
from patterns.models import Corpus, Headline
from patterns.sources import HeadlineRow, ReadReport, accept_row, read_upload
from trading.marketdata.candles import SeriesKey
from trading.models import CandleSeries

log = structlog.get_logger(__name__)

MAX_PRIVATE_CORPORA = 20


@dataclass(frozen=True)
class AddReport:
    """Outcome of adding headlines: what was read, stored, already there, rejected."""

    read: ReadReport
    inserted: int
    duplicates: int

    def as_dict(self) -> dict:
        return {**self.read.as_dict(), "inserted": self.inserted, "duplicates": self.duplicates}


def _market_series(symbol: str, exchange: str) -> CandleSeries | None:
    if not symbol:
        return None
    series = CandleSeries.objects.filter(symbol=symbol, exchange=exchange, timeframe="1d").first()
    if series is None:
        raise ApplicationError(
            f"No daily candles are stored for {symbol} on {exchange or 'any exchange'}; "
            "import or ingest them first (Market data).",
            fields={"market_symbol": ["No daily candles stored for this symbol."]},
        )
    return series


def corpus_create(
    *,
    organization: Organization,
    user: User,
    name: str,
    description: str = "",
    market_symbol: str = "",
    market_exchange: str = "",
) -> Corpus:
    name = name.strip()
    if not name:
        raise ApplicationError("A corpus needs a name.", fields={"name": ["This field is required."]})
    if Corpus.objects.for_org(organization).count() >= MAX_PRIVATE_CORPORA:
        raise ApplicationError(f"An organization can have at most {MAX_PRIVATE_CORPORA} private corpora.")
    series = _market_series(market_symbol.strip(), market_exchange.strip())
    slug = slugify(name)[:60] or "corpus"
    try:
        with transaction.atomic():
            corpus = Corpus.objects.create(
                organization=organization,
                slug=slug,
                name=name[:120],
                description=description.strip(),
                market_exchange=series.exchange if series else "",
                market_symbol=series.symbol if series else "",
                market_type=series.market_type if series else "spot",
                created_by=user,
            )
    except IntegrityError:
        raise ConflictError(
            f"A corpus named {name!r} already exists.", fields={"name": ["Already used in this organization."]}
        ) from None
    audit_record(
        action="patterns.corpus_created",
        organization=organization,
        actor=user,
        target=corpus,
        details={"market_symbol": corpus.market_symbol},
    )
    if corpus.has_market:
        corpus_schedule_index(corpus)
    return corpus


def corpus_delete(*, corpus: Corpus, user: User) -> None:
    organization = corpus.organization
    audit_record(
        action="patterns.corpus_deleted",
        organization=organization,
        actor=user,
        target=corpus,
        details={"headlines": corpus.headline_count, "days": corpus.day_count},
    )
    corpus.delete()


def headlines_store(corpus: Corpus, rows: list[HeadlineRow]) -> int:
    """Insert rows (without vectors; indexing embeds them); returns how many were new."""
    if not rows:
        return 0
    before = Headline.objects.filter(corpus=corpus).count()
    Headline.objects.bulk_create(
        [Headline(corpus=corpus, day=row.day, text=row.text, source=row.source) for row in rows],
        batch_size=2000,
        ignore_conflicts=True,
    )
    return Headline.objects.filter(corpus=corpus).count() - before


def headlines_upload(*, corpus: Corpus, user: User, content: bytes, filename: str) -> AddReport:
    """Add the readable rows of an uploaded CSV/JSON file; report every rejected row."""
    read = read_upload(content, filename)
    with transaction.atomic():
        Corpus.objects.for_org(corpus.organization).select_for_update().filter(pk=corpus.pk).first()
        inserted = headlines_store(corpus, read.rows)
        report = AddReport(read=read, inserted=inserted, duplicates=len(read.rows) - inserted)
        audit_record(
            action="patterns.headlines_uploaded",
            organization=corpus.organization,
            actor=user,
            target=corpus,
            details={"file": filename[:100], **{k: v for k, v in report.as_dict().items() if k != "rejections"}},
        )
    if inserted:
        corpus_schedule_index(corpus)
    return report


def event_add(*, corpus: Corpus, user: User, day: str, text: str, source: str = "") -> AddReport:
    """Add one headline/event by hand."""
    read = ReadReport()
    accept_row(read, 1, day, text, source)  # one validation path for uploads and hand-added events
    if read.rejected:
        _, reason = read.rejected[0]
        field = "day" if "date" in reason or "range" in reason else "text"
        raise ApplicationError(f"Not added: {reason}.", fields={field: [reason]})
    with transaction.atomic():
        inserted = headlines_store(corpus, read.rows)
        audit_record(
            action="patterns.event_added",
            organization=corpus.organization,
            actor=user,
            target=corpus,
            details={"day": read.rows[0].day.isoformat(), "inserted": inserted},
        )
    if inserted:
        corpus_schedule_index(corpus)
    return AddReport(read=read, inserted=inserted, duplicates=1 - inserted)


def corpus_schedule_index(corpus: Corpus, *, full: bool = False) -> None:
    """Queue an indexing run once the current transaction commits."""
    Corpus.objects.for_org(corpus.organization).filter(pk=corpus.pk).update(
        status=Corpus.Status.INDEXING, status_message="Queued", status_changed_at=timezone.now()
    )
    transaction.on_commit(lambda: corpus_index_enqueue(corpus.pk, full=full))


def corpus_index_enqueue(corpus_id: int, *, full: bool = False) -> bool:
    """Send the indexing task; False when the broker cannot be reached. The corpus stays
    "indexing" and ``corpora_requeue_stuck`` (beat) sends it again later, so a lost enqueue
    neither fails the request that made it nor leaves the corpus unindexed."""
    from patterns.tasks import index_corpus

    try:
        index_corpus.delay(corpus_id, full=full)
    except BrokerError as error:
        log.warning("patterns.index_enqueue_failed", corpus_id=corpus_id, error=type(error).__name__)
        return False
    return True


def series_choices() -> list[SeriesKey]:
    """Daily series a private corpus can attach as its market."""
    return [
        SeriesKey(row.exchange, row.symbol, row.market_type, row.timeframe)
        for row in CandleSeries.objects.filter(timeframe="1d").order_by("symbol", "exchange")
    ]
