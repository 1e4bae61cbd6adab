"""Build the astro table and the public corpora (and index them), synchronously or via Celery."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from patterns.encoders import astro
from patterns.services.astro_table import astro_table_ensure
from patterns.services.indexing import corpus_index
from patterns.services.public_corpora import PUBLIC_CORPORA, public_corpus_build, public_corpus_spec
from patterns.sources import UploadRejected


class Command(BaseCommand):
    help = "Compute the astro table (1900-2050) and build the public corpora from SHARED_DATA_DIR."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--only", action="append", default=[], help="Public corpus slug (repeatable)")
        parser.add_argument("--data-dir", default=None, help="Defaults to SHARED_DATA_DIR")
        parser.add_argument("--start", type=date.fromisoformat, default=None, help="Narrow corpora (tests, demos)")
        parser.add_argument("--end", type=date.fromisoformat, default=None)
        parser.add_argument("--queue", action="store_true", help="Index in Celery instead of in this process")
        parser.add_argument("--skip-astro", action="store_true", help="Do not fill the whole 1900-2050 table")

    def handle(self, *args, **options) -> None:
        if not options["skip_astro"]:
            added = astro_table_ensure(astro.MIN_DATE, astro.MAX_DATE)
            self.stdout.write(f"Astro table: {added:,} days added.")
        data_dir = Path(options["data_dir"] or settings.SHARED_DATA_DIR)
        if not data_dir.is_dir():
            raise CommandError(f"{data_dir} is absent: set SHARED_DATA_DIR to the shared data folder.")
        try:
            specs = [public_corpus_spec(slug) for slug in options["only"]] or list(PUBLIC_CORPORA)
        except UploadRejected as error:
            raise CommandError(str(error)) from error
        for spec in specs:
            try:
                corpus, report = public_corpus_build(spec, data_dir, start=options["start"], end=options["end"])
            except UploadRejected as error:
                self.stdout.write(self.style.WARNING(f"{spec.slug}: skipped: {error}"))
                continue
            read = f", {report.read:,} headlines read, {report.rejected_count} rejected" if report else ""
            self.stdout.write(f"{spec.slug}: corpus {corpus.pk}{read}")
            if options["queue"]:
                from patterns.tasks import index_corpus

                index_corpus.delay(corpus.pk)
                self.stdout.write("  indexing queued")
            else:
                result = corpus_index(corpus.pk)
                self.stdout.write(f"  indexed: {result.as_dict()}")
