"""REST API of pattern search: corpora, their headlines, analog search and the sky of a day.
Thin: validate, call one service or selector, serialize."""

from __future__ import annotations

import json
from typing import Any

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import OrganizationAPIView
from accounts.models import Scope
from accounts.roles import Role
from asterweb.api_errors import error_responses
from asterweb.parsers import JSONParser
from asterweb.serializers import StrictQuerySerializer, StrictSerializer
from patterns.encoders import astro
from patterns.selectors import corpora_visible, corpus_get, corpus_get_own, corpus_headlines
from patterns.services import corpora as corpus_service
from patterns.services import search as search_service
from patterns.services.astro_table import astro_table_read
from patterns.sources import MAX_HEADLINE_CHARS, upload_size_check

MAX_HEADLINES_PAGE = 500
TAGS = ["pattern search"]

# ---------------------------------------------------------------- corpora


class CoverageSerializer(serializers.Serializer):
    days = serializers.IntegerField(source="day_count")
    news_days = serializers.IntegerField(source="news_day_count")
    market_days = serializers.IntegerField(source="market_day_count")
    headlines = serializers.IntegerField(source="headline_count")
    days_from = serializers.DateField(allow_null=True)
    days_to = serializers.DateField(allow_null=True)
    news_from = serializers.DateField(allow_null=True)
    news_to = serializers.DateField(allow_null=True)
    market_from = serializers.DateField(allow_null=True)
    market_to = serializers.DateField(allow_null=True)


class CorpusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    public = serializers.BooleanField(source="is_public")
    license_note = serializers.CharField(allow_blank=True)
    market_exchange = serializers.CharField(allow_blank=True, help_text="Empty when no market is attached.")
    market_symbol = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    status_message = serializers.CharField(allow_blank=True)
    progress_done = serializers.IntegerField()
    progress_total = serializers.IntegerField()
    version = serializers.IntegerField(help_text="Bumped by each indexing run that changed something.")
    indexed_at = serializers.DateTimeField(allow_null=True)
    coverage = CoverageSerializer(source="*")


class CorpusCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    market_symbol = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="A stored daily series, e.g. BTC/USDT."
    )
    market_exchange = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")


class CorpusListView(OrganizationAPIView):
    required_roles = {"get": Role.VIEWER, "post": Role.TRADER}
    required_scopes = {"post": Scope.TRADE}
    idempotent_actions = ("post",)  # creates a corpus

    @extend_schema(summary="List corpora", tags=TAGS, responses={200: CorpusSerializer(many=True), **error_responses()})
    def get(self, request: Request, **kwargs: Any) -> Response:
        return Response(CorpusSerializer(corpora_visible(self.organization), many=True).data)

    @extend_schema(
        summary="Create a private corpus",
        tags=TAGS,
        request=CorpusCreateSerializer,
        responses={201: CorpusSerializer, **error_responses(400, 409)},
    )
    def post(self, request: Request, **kwargs: Any) -> Response:
        body = CorpusCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        corpus = corpus_service.corpus_create(organization=self.organization, user=request.user, **body.validated_data)
        return Response(CorpusSerializer(corpus).data, status=status.HTTP_201_CREATED)


class CorpusDetailView(OrganizationAPIView):
    required_roles = {"get": Role.VIEWER, "delete": Role.ADMIN}
    required_scopes = {"delete": Scope.ADMIN}

    @extend_schema(
        summary="Get a corpus and its coverage", tags=TAGS, responses={200: CorpusSerializer, **error_responses()}
    )
    def get(self, request: Request, corpus_id: int, **kwargs: Any) -> Response:
        return Response(CorpusSerializer(corpus_get(self.organization, corpus_id)).data)

    @extend_schema(summary="Delete a private corpus", tags=TAGS, responses={204: None, **error_responses()})
    def delete(self, request: Request, corpus_id: int, **kwargs: Any) -> Response:
        corpus_service.corpus_delete(corpus=corpus_get_own(self.organization, corpus_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CorpusReindexView(OrganizationAPIView):
    required_roles = {"post": Role.TRADER}
    required_scopes = {"post": Scope.TRADE}

    @extend_schema(
        summary="Re-index a private corpus",
        description="Queues an indexing run; poll the corpus for `status` and progress.",
        tags=TAGS,
        request=None,
        responses={202: CorpusSerializer, **error_responses()},
    )
    def post(self, request: Request, corpus_id: int, **kwargs: Any) -> Response:
        corpus = corpus_get_own(self.organization, corpus_id)
        corpus_service.corpus_schedule_index(corpus)
        corpus.refresh_from_db()
        return Response(CorpusSerializer(corpus).data, status=status.HTTP_202_ACCEPTED)


# ---------------------------------------------------------------- headlines


class HeadlineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    day = serializers.DateField()
    text = serializers.CharField()
    source = serializers.CharField(allow_blank=True)
    indexed = serializers.SerializerMethodField()

    def get_indexed(self, headline) -> bool:
        return headline.has_vector


class HeadlineQuerySerializer(StrictQuerySerializer):
    day = serializers.DateField(required=False)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_HEADLINES_PAGE, default=100)


class HeadlineInSerializer(StrictSerializer):
    day = serializers.CharField(max_length=40, help_text="YYYY-MM-DD (or an ISO date-time: its UTC day).")
    text = serializers.CharField(max_length=MAX_HEADLINE_CHARS, trim_whitespace=False)
    source = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")


class HeadlinesAddSerializer(StrictSerializer):
    headlines = HeadlineInSerializer(many=True, required=False)
    file = serializers.FileField(required=False, help_text="A CSV (date + headline columns) or JSON file.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("headlines")) == bool(attrs.get("file")):
            raise serializers.ValidationError({"headlines": ["Send either `headlines` (JSON) or `file` (multipart)."]})
        return attrs


class RejectionSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="CSV line or JSON item number.")
    reason = serializers.CharField()


class AddReportSerializer(serializers.Serializer):
    read = serializers.IntegerField()
    accepted = serializers.IntegerField()
    inserted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    rejections = RejectionSerializer(many=True, help_text="The first 200 rejected rows, with reasons.")


class CorpusHeadlinesView(OrganizationAPIView):
    required_roles = {"get": Role.VIEWER, "post": Role.TRADER}
    required_scopes = {"post": Scope.TRADE}
    parser_classes = [JSONParser, MultiPartParser]
    accepts_upload = True  # bodies up to UPLOAD_MAX_BYTES (asterweb.request_limits), not API_MAX_BODY_BYTES
    idempotent_actions = ("post",)  # adds headlines

    @extend_schema(
        summary="List a corpus' headlines (newest day first)",
        tags=TAGS,
        parameters=[HeadlineQuerySerializer],
        responses={200: HeadlineSerializer(many=True), **error_responses(400)},
    )
    def get(self, request: Request, corpus_id: int, **kwargs: Any) -> Response:
        corpus = corpus_get(self.organization, corpus_id)
        query = HeadlineQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        rows = corpus_headlines(corpus, day=query.validated_data.get("day"))[: query.validated_data["limit"]]
        return Response(HeadlineSerializer(rows, many=True).data)

    @extend_schema(
        summary="Add headlines to a private corpus",
        description='JSON `{"headlines": [{"day", "text", "source"}]}` or a multipart `file` (CSV/JSON). '
        "Good rows are kept; each rejected row is reported with its reason. Indexing runs afterwards. "
        "Bodies and files up to `UPLOAD_MAX_BYTES` (10 MiB by default; larger ones are a 413).",
        tags=TAGS,
        request={"application/json": HeadlinesAddSerializer, "multipart/form-data": HeadlinesAddSerializer},
        responses={201: AddReportSerializer, **error_responses(400, 413)},
    )
    def post(self, request: Request, corpus_id: int, **kwargs: Any) -> Response:
        corpus = corpus_get_own(self.organization, corpus_id)
        body = HeadlinesAddSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data.get("file")
        if upload is not None:
            upload_size_check(upload.size)  # by its size, before reading it
            content, filename = upload.read(), upload.name or "upload"
        else:
            content = json.dumps(body.validated_data["headlines"]).encode()
            filename = "request.json"
        report = corpus_service.headlines_upload(corpus=corpus, user=request.user, content=content, filename=filename)
        return Response(report.as_dict(), status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------- search


class WeightsSerializer(StrictSerializer):
    astro = serializers.FloatField(min_value=0, max_value=10, default=1.0)
    news = serializers.FloatField(min_value=0, max_value=10, default=1.0)
    market = serializers.FloatField(min_value=0, max_value=10, default=1.0)


class FiltersSerializer(StrictSerializer):
    start = serializers.DateField(required=False, allow_null=True)
    end = serializers.DateField(required=False, allow_null=True)
    retrograde = serializers.ListField(
        child=serializers.ChoiceField(choices=astro.PLANETS_THAT_RETROGRADE), required=False, default=list
    )
    direct = serializers.ListField(
        child=serializers.ChoiceField(choices=astro.PLANETS_THAT_RETROGRADE), required=False, default=list
    )
    moon_phases = serializers.ListField(
        child=serializers.ChoiceField(choices=astro.MOON_PHASES), required=False, default=list
    )
    aspects = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        default=list,
        max_length=20,
        help_text="All of these, e.g. `mars-square-saturn`.",
    )
    signs = serializers.DictField(
        child=serializers.ChoiceField(choices=astro.SIGNS),
        required=False,
        default=dict,
        help_text='Body → sign that must hold, e.g. `{"sun": "aries"}`.',
    )


class SearchSerializer(StrictSerializer):
    text = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    day = serializers.DateField(required=False, allow_null=True, help_text="Find days like this one.")
    weights = WeightsSerializer(required=False)
    filters = FiltersSerializer(required=False)
    limit = serializers.IntegerField(min_value=1, max_value=search_service.MAX_RESULTS, default=10)

    def to_request(self) -> search_service.SearchRequest:
        data = self.validated_data
        filters = data.get("filters") or {}
        return search_service.SearchRequest(
            text=data["text"],
            day=data.get("day"),
            weights=search_service.Weights(**(data.get("weights") or {})),
            filters=search_service.DayFilters(
                start=filters.get("start"),
                end=filters.get("end"),
                retrograde=tuple(filters.get("retrograde", ())),
                direct=tuple(filters.get("direct", ())),
                moon_phases=tuple(filters.get("moon_phases", ())),
                aspects=tuple(filters.get("aspects", ())),
                signs=tuple(sorted(filters.get("signs", {}).items())),
            ),
            limit=data["limit"],
        )


class MatchedHeadlineSerializer(serializers.Serializer):
    text = serializers.CharField()
    source = serializers.CharField(allow_blank=True)
    similarity = serializers.FloatField(allow_null=True, help_text="Cosine to the search text, when searching by text.")


class ComponentSimilaritySerializer(serializers.Serializer):
    astro = serializers.FloatField(required=False, allow_null=True)
    news = serializers.FloatField(required=False, allow_null=True)
    market = serializers.FloatField(required=False, allow_null=True)


class DayMatchSerializer(serializers.Serializer):
    day = serializers.DateField()
    similarity = serializers.FloatField(allow_null=True, help_text="Weighted cosine in [-1, 1]; null for filter-only.")
    component_similarity = ComponentSimilaritySerializer()
    headlines = MatchedHeadlineSerializer(many=True)
    headline_count = serializers.IntegerField()
    close = serializers.FloatField(allow_null=True)
    forward_returns = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text='Simple returns over the next 1, 5 and 20 bars: {"1": r1, "5": r5, "20": r20} (null past the data).',
    )
    retrograde = serializers.ListField(child=serializers.CharField())
    moon_phase = serializers.CharField()
    aspects = serializers.ListField(child=serializers.CharField())
    signs = serializers.DictField(child=serializers.CharField())


class SearchResultSerializer(serializers.Serializer):
    corpus_id = serializers.IntegerField()
    corpus_version = serializers.IntegerField()
    method = serializers.ChoiceField(choices=["exact", "hnsw", "filter"])
    candidates = serializers.IntegerField(help_text="Days passing the filters.")
    cached = serializers.BooleanField()
    results = DayMatchSerializer(many=True)


_SEARCH_EXAMPLE = OpenApiExample(
    "Text with a filter and weights",
    request_only=True,
    value={
        "text": "central banks raise rates to fight inflation",
        "weights": {"astro": 0.2, "news": 1, "market": 0.5},
        "filters": {"retrograde": ["mercury"], "start": "2010-01-01", "end": "2016-12-31"},
        "limit": 10,
    },
)


class CorpusSearchView(OrganizationAPIView):
    required_roles = {"post": Role.VIEWER}
    required_scopes = {"post": Scope.READ}

    @extend_schema(
        summary="Find similar days",
        description="By text, by date (days like a given day), by structured filters, or combined. "
        "Counts against the organization's daily search quota (429 with Retry-After past it).",
        tags=TAGS,
        request=SearchSerializer,
        examples=[_SEARCH_EXAMPLE],
        responses={200: SearchResultSerializer, **error_responses(400, 429)},
    )
    def post(self, request: Request, corpus_id: int, **kwargs: Any) -> Response:
        corpus = corpus_get(self.organization, corpus_id)
        body = SearchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(search_service.search_days(self.organization, corpus, body.to_request()))


class HeadlineSearchSerializer(StrictSerializer):
    text = serializers.CharField(max_length=5000)
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)
    limit = serializers.IntegerField(min_value=1, max_value=search_service.MAX_RESULTS, default=10)


class HeadlineHitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    day = serializers.DateField()
    text = serializers.CharField()
    source = serializers.CharField(allow_blank=True)
    similarity = serializers.FloatField()


class HeadlineSearchResultSerializer(serializers.Serializer):
    corpus_id = serializers.IntegerField()
    method = serializers.ChoiceField(
        choices=["exact", "hnsw"],
        help_text="exact: every headline in the date window was scored; hnsw: the vector index answered.",
    )
    cached = serializers.BooleanField()
    results = HeadlineHitSerializer(many=True)


class CorpusHeadlineSearchView(OrganizationAPIView):
    required_roles = {"post": Role.VIEWER}
    required_scopes = {"post": Scope.READ}

    @extend_schema(
        summary="Find similar headlines",
        tags=TAGS,
        request=HeadlineSearchSerializer,
        responses={200: HeadlineSearchResultSerializer, **error_responses(400, 429)},
    )
    def post(self, request: Request, corpus_id: int, **kwargs: Any) -> Response:
        corpus = corpus_get(self.organization, corpus_id)
        body = HeadlineSearchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        bounds = {name: data[name] for name in ("start", "end") if data.get(name)}
        return Response(
            search_service.search_headlines(self.organization, corpus, data["text"], limit=data["limit"], **bounds)
        )


# ---------------------------------------------------------------- the sky of a day


class SkySerializer(serializers.Serializer):
    day = serializers.DateField()
    longitude = serializers.DictField(child=serializers.FloatField(), help_text="Degrees, ecliptic of date.")
    signs = serializers.DictField(child=serializers.CharField())
    retrograde = serializers.ListField(child=serializers.CharField())
    moon_phase = serializers.CharField()
    aspects = serializers.ListField(child=serializers.CharField())


class SkyQuerySerializer(StrictQuerySerializer):
    day = serializers.DateField()

    def validate_day(self, value):
        if not astro.MIN_DATE <= value <= astro.MAX_DATE:
            raise serializers.ValidationError(f"Outside the supported range {astro.MIN_DATE} to {astro.MAX_DATE}.")
        return value


class SkyView(OrganizationAPIView):
    required_roles = {"get": Role.VIEWER}

    @extend_schema(
        summary="The astro configuration of a day (00:00 UTC)",
        tags=TAGS,
        parameters=[OpenApiParameter("day", OpenApiTypes.DATE, description="YYYY-MM-DD, 1900-2050", required=True)],
        responses={200: SkySerializer, **error_responses(400)},
    )
    def get(self, request: Request, **kwargs: Any) -> Response:
        query = SkyQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        return Response(sky_of_day(query.validated_data["day"]))


def sky_of_day(day) -> dict:
    from patterns.models import AstroDay

    astro_table_read(day, day)
    row = AstroDay.objects.get(day=day)
    return {
        "day": day,
        "longitude": {body: round(value, 6) for body, value in zip(astro.BODIES, row.longitude, strict=True)},
        "signs": {body: astro.SIGNS[sign] for body, sign in zip(astro.BODIES, row.sign, strict=True)},
        "retrograde": row.retrograde,
        "moon_phase": astro.MOON_PHASES[row.moon_phase],
        "aspects": row.aspects,
    }


class QuotaSerializer(serializers.Serializer):
    quota = serializers.IntegerField()
    used = serializers.IntegerField()
    remaining = serializers.IntegerField()


class SearchQuotaView(OrganizationAPIView):
    required_roles = {"get": Role.VIEWER}

    @extend_schema(
        summary="Today's pattern search quota (UTC)", tags=TAGS, responses={200: QuotaSerializer, **error_responses()}
    )
    def get(self, request: Request, **kwargs: Any) -> Response:
        return Response(search_service.search_quota_status(self.organization))


api_org_urlpatterns = [
    path("corpora/", CorpusListView.as_view(), name="corpus-list"),
    path("corpora/<int:corpus_id>/", CorpusDetailView.as_view(), name="corpus-detail"),
    path("corpora/<int:corpus_id>/reindex/", CorpusReindexView.as_view(), name="corpus-reindex"),
    path("corpora/<int:corpus_id>/headlines/", CorpusHeadlinesView.as_view(), name="corpus-headlines"),
    path("corpora/<int:corpus_id>/search/", CorpusSearchView.as_view(), name="corpus-search"),
    path("corpora/<int:corpus_id>/headline-search/", CorpusHeadlineSearchView.as_view(), name="corpus-headline-search"),
    path("patterns/sky/", SkyView.as_view(), name="patterns-sky"),
    path("patterns/quota/", SearchQuotaView.as_view(), name="patterns-quota"),
]
