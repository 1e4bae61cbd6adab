"""Pattern search storage: the astro table, corpora, their day index and headlines.

The astro table belongs to no one (a ``SharedModel``). A ``Corpus`` is either public
(``organization`` is NULL, shipped with the deployment and enabled by ``PATTERNS_PUBLIC_CORPORA``)
or private to one organization; its days and headlines hang off it. All three are
``TenantOrPublicModel``: their default manager answers only ``visible_to(org)`` (public or own)
and ``for_org(org)`` (own), or a query pinned to one corpus already found visible, and raises
otherwise; ``all_objects`` is for system jobs (indexing, the public corpora build) and the admin.
``patterns.selectors.corpora_visible`` / ``corpus_get`` add the deployment's switch for public ones.

Vectors in ``DayVector`` are stored per component, each L2-normalised, and also as one
concatenation ``combined = [astro | news | market]`` (a missing component is zeros). A
search scales the query's components by the user's weights, so the inner product with
``combined`` is the weighted sum of per-component cosines: the weights really apply,
and one index serves every weighting.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import MD5, Cast
from django.utils import timezone
from pgvector.django import HalfVectorField, HnswIndex, VectorField

from accounts.tenancy import SharedModel, TenantOrPublicModel
from patterns.encoders.astro import ASTRO_DIM
from patterns.encoders.market import MARKET_DIM
from patterns.encoders.news import EMBEDDING_DIM

COMBINED_DIM = ASTRO_DIM + EMBEDDING_DIM + MARKET_DIM
HEADLINE_HNSW_INDEX = "patterns_headline_halfvec_hnsw"

__all__ = ["COMBINED_DIM", "AstroDay", "Corpus", "DayVector", "Headline"]


class AstroDay(SharedModel):
    """The sky at 00:00 UTC of one day, computed once (``patterns.services.astro_table``).
    Arrays are indexed in ``patterns.encoders.astro.BODIES`` order."""

    day = models.DateField(primary_key=True)
    longitude = ArrayField(models.FloatField(), help_text="degrees, apparent geocentric ecliptic of date")
    speed = ArrayField(models.FloatField(), help_text="degrees per day")
    sign = ArrayField(models.SmallIntegerField(), help_text="0 = Aries … 11 = Pisces")
    retrograde = ArrayField(models.CharField(max_length=16), default=list, help_text="bodies retrograde that day")
    moon_phase_angle = models.FloatField()
    moon_phase = models.SmallIntegerField(help_text="index into MOON_PHASES")
    aspects = ArrayField(models.CharField(max_length=40), default=list, help_text="e.g. mars-square-saturn")
    aspects_applying = ArrayField(models.CharField(max_length=40), default=list)
    vector = VectorField(dimensions=ASTRO_DIM)

    class Meta:
        ordering = ["day"]

    def __str__(self) -> str:
        return f"sky of {self.day}"


class Corpus(TenantOrPublicModel):
    """A set of days with news and/or a market attached."""

    class Status(models.TextChoices):
        EMPTY = "empty", "Not indexed yet"
        INDEXING = "indexing", "Indexing"
        READY = "ready", "Ready"
        FAILED = "failed", "Indexing failed"

    organization = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty for a public corpus.",
    )
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    license_note = models.CharField(max_length=200, blank=True)
    market_exchange = models.CharField(max_length=32, blank=True)
    market_symbol = models.CharField(max_length=64, blank=True)
    market_type = models.CharField(max_length=16, blank=True, default="spot")
    first_day = models.DateField(null=True, blank=True, help_text="Days outside news/market coverage in range")
    last_day = models.DateField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0, help_text="Bumped by every indexing run (cache keys use it)")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.EMPTY)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    status_message = models.CharField(max_length=500, blank=True)
    status_changed_at = models.DateTimeField(
        default=timezone.now, help_text="Last status change (the stuck-indexing sweep reads it)"
    )
    indexed_at = models.DateTimeField(null=True, blank=True)
    day_count = models.PositiveIntegerField(default=0)
    news_day_count = models.PositiveIntegerField(default=0)
    market_day_count = models.PositiveIntegerField(default=0)
    headline_count = models.PositiveIntegerField(default=0)
    days_from = models.DateField(null=True, blank=True)
    days_to = models.DateField(null=True, blank=True)
    news_from = models.DateField(null=True, blank=True)
    news_to = models.DateField(null=True, blank=True)
    market_from = models.DateField(null=True, blank=True)
    market_to = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantOrPublicModel.Meta):
        verbose_name_plural = "corpora"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug"], condition=Q(organization__isnull=True), name="patterns_public_corpus_slug_unique"
            ),
            models.UniqueConstraint(fields=["organization", "slug"], name="patterns_corpus_slug_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_public(self) -> bool:
        return self.organization_id is None

    @property
    def has_market(self) -> bool:
        return bool(self.market_symbol)

    @property
    def market_label(self) -> str:
        return f"{self.market_symbol} ({self.market_exchange})" if self.market_symbol else "none"


class DayVector(TenantOrPublicModel):
    """One day of one corpus: its encoded components and the columns filters use."""

    tenant_path = "corpus__organization"

    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    astro = VectorField(dimensions=ASTRO_DIM)
    news = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    market = VectorField(dimensions=MARKET_DIM, null=True, blank=True)
    combined = VectorField(dimensions=COMBINED_DIM)
    headline_count = models.PositiveIntegerField(default=0)
    close = models.FloatField(null=True, blank=True, help_text="the corpus market's close that day")
    forward_1 = models.FloatField(null=True, blank=True)
    forward_5 = models.FloatField(null=True, blank=True)
    forward_20 = models.FloatField(null=True, blank=True)
    retrograde = ArrayField(models.CharField(max_length=16), default=list)
    moon_phase = models.SmallIntegerField()
    signs = ArrayField(models.SmallIntegerField())
    aspects = ArrayField(models.CharField(max_length=40), default=list)

    class Meta(TenantOrPublicModel.Meta):
        ordering = ["corpus", "day"]
        constraints = [models.UniqueConstraint(fields=["corpus", "day"], name="patterns_dayvector_unique_day")]
        indexes = [
            GinIndex(fields=["retrograde"], name="patterns_day_retro_gin"),
            GinIndex(fields=["aspects"], name="patterns_day_aspects_gin"),
            HnswIndex(
                name="patterns_day_combined_hnsw",
                fields=["combined"],
                m=16,
                ef_construction=100,
                opclasses=["vector_ip_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.corpus_id} {self.day}"


class Headline(TenantOrPublicModel):
    """One headline of a corpus day, with its own embedding for headline-level search."""

    tenant_path = "corpus__organization"

    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="headlines")
    day = models.DateField()
    text = models.CharField(max_length=1000)
    source = models.CharField(max_length=120, blank=True)
    vector = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantOrPublicModel.Meta):
        ordering = ["corpus", "day", "id"]
        constraints = [
            # The same headline on the same day is stored once, so re-uploading a file is harmless.
            models.UniqueConstraint(F("corpus"), F("day"), MD5("text"), name="patterns_headline_unique_text"),
        ]
        indexes = [
            models.Index(fields=["corpus", "day"], name="patterns_headline_day"),
            # On the half-precision copy of the vector: half the index's memory and page reads
            # per query for the same recall (patterns.services.search.HEADLINE_ORDER uses it).
            HnswIndex(
                OpClass(Cast("vector", HalfVectorField(dimensions=EMBEDDING_DIM)), name="halfvec_ip_ops"),
                name=HEADLINE_HNSW_INDEX,
                m=16,
                ef_construction=100,
            ),
        ]

    def __str__(self) -> str:
        return self.text[:80]
