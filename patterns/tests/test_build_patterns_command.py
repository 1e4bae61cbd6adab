"""``manage.py build_patterns``: public corpora from the shared data, with clear errors."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from patterns.models import Corpus

pytestmark = pytest.mark.django_db


def test_builds_and_indexes_a_public_corpus_from_the_shared_data():
    out = StringIO()
    call_command(
        "build_patterns",
        "--only",
        "btc-sky-market",
        "--start",
        "2021-01-01",
        "--end",
        "2021-03-31",
        "--skip-astro",
        stdout=out,
    )
    corpus = Corpus.all_objects.get(organization=None, slug="btc-sky-market")
    assert (corpus.status, corpus.day_count, corpus.market_day_count, corpus.news_day_count) == ("ready", 90, 90, 0)
    assert "indexed" in out.getvalue()


def test_unknown_corpus_and_missing_data_folder_are_clear_errors(tmp_path):
    with pytest.raises(CommandError, match="Unknown public corpus 'nope'; the public corpora are"):
        call_command("build_patterns", "--only", "nope", "--skip-astro")
    with pytest.raises(CommandError, match="is absent: set SHARED_DATA_DIR"):
        call_command("build_patterns", "--data-dir", str(tmp_path / "missing"), "--skip-astro")
