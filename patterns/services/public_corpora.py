"""The public corpora built from the shared data sets (``SHARED_DATA_DIR``).

The Reddit WorldNews set is licensed CC BY-NC-SA 4.0: fine for demos and research, not for a
corpus sold to customers. Public corpora are therefore visible only where the deployment
sets ``PATTERNS_PUBLIC_CORPORA`` (on in development and tests, off in production settings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.db import transaction

from patterns.models import Corpus
from patterns.services.corpora import headlines_store
from patterns.sources import ReadReport, UploadRejected, read_crypto_news, read_reddit_news
from trading.marketdata.importers import candles_import_csv
from trading.models import CandleSeries

REDDIT_LICENSE = "CC BY-NC-SA 4.0 (Sun, J. 2016, Kaggle 'Daily News for Stock Market Prediction'): non-commercial"


@dataclass(frozen=True)
class MarketFile:
    exchange: str
    symbol: str
    path: str  # relative to the data folder


@dataclass(frozen=True)
class PublicCorpus:
    slug: str
    name: str
    description: str
    market: MarketFile | None
    news_path: str = ""
    news_reader: Callable[[Path], ReadReport] | None = None
    first_day: date | None = None
    last_day: date | None = None
    license_note: str = ""


DJIA = MarketFile("index", "DJIA", "news/DJIA_table.csv")
BTC = MarketFile("binance", "BTC/USDT", "market/BTCUSDT_1d.csv")
ETH = MarketFile("binance", "ETH/USDT", "market/ETHUSDT_1d.csv")

PUBLIC_CORPORA: tuple[PublicCorpus, ...] = (
    PublicCorpus(
        slug="reddit-worldnews-djia",
        name="World news and the Dow (2008-2016)",
        description="Top Reddit WorldNews headlines of each day with the Dow Jones Industrial Average.",
        market=DJIA,
        news_path="news/RedditNews.csv.zip",
        news_reader=read_reddit_news,
        license_note=REDDIT_LICENSE,
    ),
    PublicCorpus(
        slug="crypto-news-btc",
        name="Crypto news and Bitcoin (2021-2022)",
        description="CoinTelegraph, CryptoNews and CryptoPotato headlines with BTC/USDT daily prices.",
        market=BTC,
        news_path="news/cryptonews.csv",
        news_reader=read_crypto_news,
        first_day=date(2021, 10, 12),
        last_day=date(2022, 7, 5),
    ),
    PublicCorpus(
        slug="btc-sky-market",
        name="Bitcoin: market state and sky (2017-2026)",
        description="Every BTC/USDT day with its astro configuration and market state; no news.",
        market=BTC,
    ),
    PublicCorpus(
        slug="eth-sky-market",
        name="Ether: market state and sky (2017-2026)",
        description="Every ETH/USDT day with its astro configuration and market state; no news.",
        market=ETH,
    ),
)


def public_corpus_spec(slug: str) -> PublicCorpus:
    for spec in PUBLIC_CORPORA:
        if spec.slug == slug:
            return spec
    known = ", ".join(spec.slug for spec in PUBLIC_CORPORA)
    raise UploadRejected(f"Unknown public corpus {slug!r}; the public corpora are {known}.")


def _ensure_market(spec: MarketFile, data_dir: Path) -> None:
    if CandleSeries.objects.filter(exchange=spec.exchange, symbol=spec.symbol, timeframe="1d").exists():
        return
    path = data_dir / spec.path
    if not path.exists():
        raise UploadRejected(f"{path} does not exist: set SHARED_DATA_DIR to the shared data folder.")
    candles_import_csv(location=path, exchange=spec.exchange, symbol=spec.symbol, timeframe="1d", market_type="spot")


def public_corpus_build(
    spec: PublicCorpus, data_dir: Path, *, start: date | None = None, end: date | None = None
) -> tuple[Corpus, ReadReport | None]:
    """Create or refresh a public corpus' row, market and headlines (``start``/``end`` narrow
    it, for tests). Indexing is separate (``corpus_index`` or the Celery task)."""
    if spec.market is not None:
        _ensure_market(spec.market, data_dir)
    first_day = max(filter(None, (spec.first_day, start)), default=None)
    last_day = min(filter(None, (spec.last_day, end)), default=None)
    report = None
    if spec.news_reader is not None:
        report = spec.news_reader(data_dir / spec.news_path)
        report.rows = [
            row
            for row in report.rows
            if (first_day is None or row.day >= first_day) and (last_day is None or row.day <= last_day)
        ]
    with transaction.atomic():
        corpus, _ = Corpus.all_objects.update_or_create(
            organization=None,
            slug=spec.slug,
            defaults={
                "name": spec.name,
                "description": spec.description,
                "license_note": spec.license_note,
                "market_exchange": spec.market.exchange if spec.market else "",
                "market_symbol": spec.market.symbol if spec.market else "",
                "market_type": "spot",
                "first_day": first_day,
                "last_day": last_day,
            },
        )
        if report is not None:
            headlines_store(corpus, report.rows)
    return corpus, report
