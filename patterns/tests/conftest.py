"""Real corpora for the pattern-search tests, built once for this package from the shared data
sets (subsets, to stay fast) and removed afterwards. Their market series use the exchange id
``patterns-test`` so they never collide with the trading tests' imports."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings

from patterns.models import AstroDay, Corpus
from patterns.services.indexing import corpus_index
from patterns.services.public_corpora import BTC, DJIA, PUBLIC_CORPORA, public_corpus_build, public_corpus_spec
from trading.models import Candle, CandleSeries

TEST_EXCHANGE = "patterns-test"
DATA_DIR = Path(settings.SHARED_DATA_DIR)


@dataclass
class Corpora:
    btc: Corpus  # BTC/USDT 2019-2022: sky and market, no news
    crypto: Corpus  # crypto news 2021-10 .. 2022-01 with BTC/USDT
    reddit: Corpus  # Reddit world news 2008-06 .. 2008-12 with the DJIA


def _spec(slug: str, **changes):
    spec = public_corpus_spec(slug)
    market = replace(spec.market, exchange=TEST_EXCHANGE) if spec.market else None
    return replace(spec, slug=f"test-{slug}", market=market, **changes)


def _cleanup() -> None:
    Corpus.all_objects.filter(slug__startswith="test-").delete()
    Candle.objects.filter(exchange=TEST_EXCHANGE).delete()
    CandleSeries.objects.filter(exchange=TEST_EXCHANGE).delete()


@pytest.fixture(scope="package")
def corpora(  # tests using it need the ``db`` fixture (or the django_db mark) so the test database exists
    django_db_setup, django_db_blocker
) -> Corpora:
    if not DATA_DIR.is_dir():
        pytest.skip(f"{DATA_DIR} is absent: set SHARED_DATA_DIR to the shared data folder")
    assert {BTC.symbol, DJIA.symbol} and PUBLIC_CORPORA
    with django_db_blocker.unblock():
        _cleanup()
        built = {}
        for name, slug, start, end in (
            ("btc", "btc-sky-market", date(2019, 1, 1), date(2022, 12, 31)),
            ("crypto", "crypto-news-btc", date(2021, 10, 12), date(2022, 1, 31)),
            ("reddit", "reddit-worldnews-djia", date(2008, 6, 8), date(2008, 12, 31)),
        ):
            corpus, _ = public_corpus_build(_spec(slug), DATA_DIR, start=start, end=end)
            corpus_index(corpus.pk)
            corpus.refresh_from_db()
            built[name] = corpus
        yield Corpora(**built)
        _cleanup()
        AstroDay.objects.all().delete()
