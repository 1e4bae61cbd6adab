"""REST API of pattern analysis: the forward returns of analog days against the baseline, the
walk-forward evaluation, the analog signal and the aspect heatmap. Thin: validate, call one
service in ``patterns.services.analysis``, serialize. Every call counts against the
organization's daily pattern search quota."""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import OrganizationAPIView
from accounts.models import Scope
from accounts.roles import Role
from asterweb.api_errors import error_responses
from asterweb.serializers import StrictQuerySerializer, StrictSerializer
from patterns.api import SearchSerializer, WeightsSerializer
from patterns.encoders.market import HORIZONS
from patterns.selectors import corpus_get
from patterns.services import analysis
from patterns.services import search as search_service

TAGS = ["pattern analysis"]
_QUOTA = " Counts against the organization's daily pattern search quota (429 with Retry-After past it)."


def _horizon_field(**kwargs: Any) -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=list(HORIZONS), default=5, help_text="Forward return horizon in bars of the corpus market.", **kwargs
    )


def _k_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=analysis.K_MIN, max_value=analysis.K_MAX, default=20, help_text="Number of analog days."
    )


# ---------------------------------------------------------------- analysis of a query


class AnalysisSerializer(SearchSerializer):
    limit = None  # search's page size; here ``k`` says how many analogs
    horizon = _horizon_field()
    k = _k_field()
    as_of = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="Analyse as known on this day: only analogs whose outcome was known by then. "
        "Defaults to the query day for a date query; a text or filter query without it uses all history.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {**attrs, "limit": 1}  # SearchRequest checks a page size that has no meaning here


class AnalogSerializer(serializers.Serializer):
    day = serializers.DateField()
    similarity = serializers.FloatField(allow_null=True, help_text="Null for a filter-only query.")
    forward_return = serializers.FloatField(help_text="Simple return over the horizon.")


class ReturnStatsSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True)
    median = serializers.FloatField(allow_null=True)
    hit_rate = serializers.FloatField(allow_null=True, help_text="Share of returns above 0.")
    std = serializers.FloatField(allow_null=True, help_text="Sample standard deviation; null under 2 values.")


class BaselineStatsSerializer(ReturnStatsSerializer):
    period_from = serializers.DateField()
    period_to = serializers.DateField()


class IntervalSerializer(serializers.Serializer):
    low = serializers.FloatField()
    high = serializers.FloatField()


class HistogramSerializer(serializers.Serializer):
    edges = serializers.ListField(child=serializers.FloatField(), help_text="Shared bin edges (bins + 1 values).")
    analog_counts = serializers.ListField(child=serializers.IntegerField())
    baseline_counts = serializers.ListField(child=serializers.IntegerField())


class AnalysisResultSerializer(serializers.Serializer):
    corpus_id = serializers.IntegerField()
    corpus_version = serializers.IntegerField()
    horizon = serializers.IntegerField()
    k = serializers.IntegerField()
    as_of = serializers.DateField(allow_null=True)
    analogs = AnalogSerializer(many=True, help_text="Most similar first, at least `horizon` bars apart.")
    eligible_days = serializers.IntegerField(help_text="Days that could be analogs (filters and point-in-time).")
    analog_stats = ReturnStatsSerializer()
    baseline_stats = BaselineStatsSerializer(help_text="Every day with a forward return in the same period.")
    difference_of_means = serializers.FloatField()
    p_value = serializers.FloatField(
        help_text="Two-sided, against random analog sets of the same size and spacing from the same period."
    )
    permutation_draws = serializers.IntegerField()
    ci95 = IntervalSerializer(allow_null=True, help_text="Bootstrap 95% interval of the analog mean.")
    histogram = HistogramSerializer()
    notes = serializers.ListField(child=serializers.CharField(), help_text="Sample size, overlap, multiple testing.")


_ANALYSIS_EXAMPLE = OpenApiExample(
    "Days like a given day, 5 bars ahead",
    request_only=True,
    value={"day": "2022-06-13", "weights": {"astro": 0.5, "news": 1, "market": 1}, "horizon": 5, "k": 30},
)


class CorpusAnalysisView(OrganizationAPIView):
    required_roles = {"post": Role.VIEWER}
    required_scopes = {"post": Scope.READ}

    @extend_schema(
        summary="Analyse the forward returns of analog days",
        description="The k analogs of a text, date or filter query and their forward returns against the "
        "unconditional distribution of the same period: means, hit rates, a permutation p-value that respects "
        "overlapping windows, a bootstrap interval, histogram data and plain-words caveats." + _QUOTA,
        tags=TAGS,
        request=AnalysisSerializer,
        examples=[_ANALYSIS_EXAMPLE],
        responses={200: AnalysisResultSerializer, **error_responses(400, 429)},
    )
    def post(self, request: Request, corpus_id: int, **kwargs: Any) -> Response:
        corpus = corpus_get(self.organization, corpus_id)
        body = AnalysisSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        query = body.to_request()
        search_service.search_quota_use(self.organization)
        data = body.validated_data
        result = analysis.analyse(corpus, query, data["horizon"], data["k"], data.get("as_of"))
        payload = {"corpus_id": corpus.pk, "corpus_version": corpus.version, **result.as_dict()}
        return Response(AnalysisResultSerializer(payload).data)


# ---------------------------------------------------------------- walk-forward


class WalkForwardSerializer(StrictSerializer):
    start = serializers.DateField()
    end = serializers.DateField()
    horizon = _horizon_field()
    k = _k_field()
    weights = WeightsSerializer(required=False)
    fee_bps = serializers.FloatField(
        min_value=0, max_value=1000, default=10, help_text="Charged per unit of position change."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"start": ["After the end."]})
        return attrs


class StrategyMetricsSerializer(serializers.Serializer):
    signals = serializers.IntegerField(help_text="Periods with a signal (the rest stayed flat).")
    hit_rate = serializers.FloatField(allow_null=True)
    information_coefficient = serializers.FloatField(allow_null=True, help_text="Spearman, signal vs realized.")
    sharpe = serializers.FloatField(allow_null=True, help_text="Annualised, after fees.")
    total_return = serializers.FloatField()


class BaselineMetricsSerializer(serializers.Serializer):
    runs = serializers.IntegerField()
    hit_rate_mean = serializers.FloatField(allow_null=True)
    hit_rate_std = serializers.FloatField(allow_null=True)
    information_coefficient_mean = serializers.FloatField(allow_null=True)
    information_coefficient_std = serializers.FloatField(allow_null=True)
    sharpe_mean = serializers.FloatField(allow_null=True)
    sharpe_std = serializers.FloatField(allow_null=True)
    total_return_mean = serializers.FloatField(allow_null=True)
    total_return_std = serializers.FloatField(allow_null=True)
    share_of_runs_beaten = serializers.FloatField(
        allow_null=True, help_text="Share of random-analog runs whose Sharpe the analog signal beats."
    )


class EquityPointSerializer(serializers.Serializer):
    day = serializers.DateField(help_text="Start of the period; the value is equity at its end.")
    analog = serializers.FloatField()
    random_median = serializers.FloatField()
    buy_and_hold = serializers.FloatField()


class WalkForwardResultSerializer(serializers.Serializer):
    corpus_id = serializers.IntegerField()
    horizon = serializers.IntegerField()
    k = serializers.IntegerField()
    fee_bps = serializers.FloatField()
    periods = serializers.IntegerField()
    strategy = StrategyMetricsSerializer()
    baseline = BaselineMetricsSerializer()
    equity = EquityPointSerializer(many=True)
    notes = serializers.ListField(child=serializers.CharField())


class CorpusWalkForwardView(OrganizationAPIView):
    required_roles = {"post": Role.VIEWER}
    required_scopes = {"post": Scope.READ}

    @extend_schema(
        summary="Walk-forward evaluation of the analog signal",
        description="Every `horizon` bars between start and end, the point-in-time analog signal against the "
        "realized return: hit rate, information coefficient and the Sharpe of a long/short rule after fees, "
        "against random analogs from the same pool." + _QUOTA,
        tags=TAGS,
        request=WalkForwardSerializer,
        responses={200: WalkForwardResultSerializer, **error_responses(400, 429)},
    )
    def post(self, request: Request, corpus_id: int, **kwargs: Any) -> Response:
        corpus = corpus_get(self.organization, corpus_id)
        body = WalkForwardSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        search_service.search_quota_use(self.organization)
        result = analysis.walk_forward(
            corpus,
            data["start"],
            data["end"],
            horizon=data["horizon"],
            k=data["k"],
            weights=search_service.Weights(**(data.get("weights") or {})),
            fee_bps=data["fee_bps"],
        )
        return Response(WalkForwardResultSerializer({"corpus_id": corpus.pk, **result.as_dict()}).data)


# ---------------------------------------------------------------- the signal of a day


class SignalQuerySerializer(StrictQuerySerializer):
    day = serializers.DateField()
    horizon = _horizon_field()
    k = _k_field()


class SignalSerializer(serializers.Serializer):
    corpus_id = serializers.IntegerField()
    symbol = serializers.CharField()
    day = serializers.DateField()
    horizon = serializers.IntegerField()
    k = serializers.IntegerField()
    expected_return = serializers.FloatField(allow_null=True, help_text="Mean analog return; null without analogs.")
    confidence = serializers.FloatField(
        help_text="In [0, 1]: erf(|t|/√2) for the t-statistic of the analog mean against zero."
    )
    analogs = AnalogSerializer(many=True)


class CorpusSignalView(OrganizationAPIView):
    required_roles = {"get": Role.VIEWER}

    @extend_schema(
        summary="The analog signal of a day",
        description="The expected forward return of the corpus market after `day`, from its point-in-time "
        "analogs (the day's own stored vectors as the query)." + _QUOTA,
        tags=TAGS,
        parameters=[SignalQuerySerializer],
        responses={200: SignalSerializer, **error_responses(400, 429)},
    )
    def get(self, request: Request, corpus_id: int, **kwargs: Any) -> Response:
        corpus = corpus_get(self.organization, corpus_id)
        query = SignalQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        data = query.validated_data
        search_service.search_quota_use(self.organization)
        found = analysis.analog_signal(corpus, corpus.market_symbol, data["day"], horizon=data["horizon"], k=data["k"])
        payload = {
            "corpus_id": corpus.pk,
            "symbol": corpus.market_symbol,
            **data,
            "expected_return": found.expected_return,
            "confidence": found.confidence,
            "analogs": [
                {"day": day, "similarity": similarity, "forward_return": forward}
                for day, similarity, forward in found.analogs_used
            ],
        }
        return Response(SignalSerializer(payload).data)


# ---------------------------------------------------------------- aspect heatmap


class HeatmapQuerySerializer(StrictQuerySerializer):
    horizon = serializers.ChoiceField(
        choices=list(HORIZONS), required=False, help_text="One horizon; every horizon when absent."
    )


class HeatmapCellSerializer(serializers.Serializer):
    horizon = serializers.IntegerField()
    days = serializers.IntegerField(help_text="Days with the aspect and a known forward return.")
    mean = serializers.FloatField(allow_null=True, help_text="Null under `min_days` days.")
    difference = serializers.FloatField(allow_null=True, help_text="Mean minus the unconditional mean.")


class HeatmapRowSerializer(serializers.Serializer):
    aspect = serializers.CharField()
    cells = HeatmapCellSerializer(many=True)


class HeatmapSerializer(serializers.Serializer):
    corpus_id = serializers.IntegerField()
    horizons = serializers.ListField(child=serializers.IntegerField())
    min_days = serializers.IntegerField()
    baseline_mean = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text='Unconditional mean per horizon: {"5": 0.004}.'
    )
    rows = HeatmapRowSerializer(many=True)
    notes = serializers.ListField(child=serializers.CharField())


class CorpusAspectHeatmapView(OrganizationAPIView):
    required_roles = {"get": Role.VIEWER}

    @extend_schema(
        summary="Forward returns by aspect",
        description="For each aspect on enough days: the mean forward return on its days minus the unconditional "
        "mean, with counts." + _QUOTA,
        tags=TAGS,
        parameters=[HeatmapQuerySerializer],
        responses={200: HeatmapSerializer, **error_responses(400, 429)},
    )
    def get(self, request: Request, corpus_id: int, **kwargs: Any) -> Response:
        corpus = corpus_get(self.organization, corpus_id)
        query = HeatmapQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        search_service.search_quota_use(self.organization)
        heat = analysis.aspect_heatmap(corpus, query.validated_data.get("horizon"))
        return Response(HeatmapSerializer({"corpus_id": corpus.pk, **heat}).data)


api_org_urlpatterns = [
    path("corpora/<int:corpus_id>/analysis/", CorpusAnalysisView.as_view(), name="corpus-analysis"),
    path("corpora/<int:corpus_id>/walk-forward/", CorpusWalkForwardView.as_view(), name="corpus-walk-forward"),
    path("corpora/<int:corpus_id>/signal/", CorpusSignalView.as_view(), name="corpus-signal"),
    path("corpora/<int:corpus_id>/aspect-heatmap/", CorpusAspectHeatmapView.as_view(), name="corpus-aspect-heatmap"),
]
