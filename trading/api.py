"""REST API for exchange accounts and markets. Thin: validate, call one service, serialize."""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts.api_base import OrganizationAPIView, OrganizationViewSet
from accounts.models import Scope
from accounts.roles import Role
from asterweb.api_errors import error_responses
from asterweb.errors import UpstreamError
from asterweb.serializers import StrictQuerySerializer, StrictSerializer
from trading.exchanges.base import TIMEFRAME_SECONDS, ExchangeError, MarketType
from trading.exchanges.credentials import CredentialsInvalid, credentials_parse
from trading.marketdata.candles import SeriesKey
from trading.marketdata.selectors import available_series, candles_range
from trading.models import ExchangeAccount
from trading.models.exchange_accounts import LIVE_CREDENTIAL_KIND_CHOICES
from trading.services import exchange_accounts as service


class ExchangeAccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExchangeAccount
        fields = [
            "id",
            "label",
            "exchange_id",
            "mode",
            "credential_kind",
            "fingerprint",
            "status",
            "last_checked_at",
            "last_check_message",
            "created_at",
            "credentials_updated_at",
        ]
        read_only_fields = fields


class CredentialsSerializer(StrictSerializer):
    credential_kind = serializers.ChoiceField(choices=LIVE_CREDENTIAL_KIND_CHOICES)
    private_key = serializers.CharField(required=False, allow_blank=True, write_only=True, max_length=200)
    wallet_address = serializers.CharField(required=False, allow_blank=True, max_length=42)
    api_key = serializers.CharField(required=False, allow_blank=True, write_only=True, max_length=200)
    secret = serializers.CharField(required=False, allow_blank=True, write_only=True, max_length=500)
    password = serializers.CharField(required=False, allow_blank=True, write_only=True, max_length=200)
    accept_main_key_risk = serializers.BooleanField(
        default=False, help_text="Required (true) with a main wallet key: it gives full custody, withdrawals included."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["credentials"] = credentials_parse(
                kind=attrs["credential_kind"],
                private_key=attrs.get("private_key", ""),
                wallet_address=attrs.get("wallet_address", ""),
                api_key=attrs.get("api_key", ""),
                secret=attrs.get("secret", ""),
                password=attrs.get("password", ""),
            )
        except CredentialsInvalid as error:
            raise serializers.ValidationError({error.field: [str(error)]}) from error
        return attrs


class ExchangeAccountCreateSerializer(CredentialsSerializer):
    label = serializers.CharField(max_length=80)
    exchange_id = serializers.CharField(max_length=40, help_text="A CCXT exchange id, e.g. `aster`.")


class ConnectionReportSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    account = serializers.CharField(allow_null=True, help_text="The wallet address or key fingerprint.")
    can_trade = serializers.BooleanField()
    can_withdraw = serializers.BooleanField(allow_null=True)
    message = serializers.CharField(allow_blank=True)
    balances = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))


class MarketSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    exchange_symbol = serializers.CharField()
    market_type = serializers.ChoiceField(choices=[m.value for m in MarketType])
    base = serializers.CharField()
    quote = serializers.CharField()
    settle = serializers.CharField(allow_null=True)
    tick_size = serializers.DecimalField(max_digits=38, decimal_places=18, coerce_to_string=True)
    lot_size = serializers.DecimalField(max_digits=38, decimal_places=18, coerce_to_string=True)
    min_quantity = serializers.DecimalField(max_digits=38, decimal_places=18, coerce_to_string=True)
    min_notional = serializers.DecimalField(max_digits=38, decimal_places=18, coerce_to_string=True, allow_null=True)
    max_leverage = serializers.IntegerField(allow_null=True)
    active = serializers.BooleanField()


_AGENT_EXAMPLE = OpenApiExample(
    "Aster with an agent (API wallet) key",
    request_only=True,
    value={
        "label": "Aster main",
        "exchange_id": "aster",
        "credential_kind": "agent_key",
        "private_key": "0x<64 hex characters>",
        "wallet_address": "0x<your main wallet address>",
    },
)


@extend_schema_view(
    list=extend_schema(
        summary="List exchange accounts", responses={200: ExchangeAccountSerializer(many=True), **error_responses()}
    ),
    retrieve=extend_schema(
        summary="Get an exchange account", responses={200: ExchangeAccountSerializer, **error_responses()}
    ),
    create=extend_schema(
        summary="Connect an exchange account",
        description="Credentials are encrypted at rest and never returned; responses show only a fingerprint. "
        "With the browser session this needs a recent password confirmation.",
        request=ExchangeAccountCreateSerializer,
        examples=[_AGENT_EXAMPLE],
        responses={201: ExchangeAccountSerializer, **error_responses(400, 409)},
    ),
    destroy=extend_schema(
        summary="Remove an exchange account and its credentials", responses={204: None, **error_responses(409)}
    ),
    credentials=extend_schema(
        summary="Replace an exchange account's credentials",
        request=CredentialsSerializer,
        responses={200: ExchangeAccountSerializer, **error_responses(400)},
    ),
    test=extend_schema(
        summary="Test the connection (balance and permissions)",
        request=None,
        responses={200: ConnectionReportSerializer, **error_responses()},
    ),
    markets=extend_schema(
        summary="List the exchange's markets", responses={200: MarketSerializer(many=True), **error_responses(502)}
    ),
)
class ExchangeAccountViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, OrganizationViewSet
):
    model = ExchangeAccount
    serializer_class = ExchangeAccountSerializer
    required_roles = {
        "list": Role.VIEWER,
        "retrieve": Role.VIEWER,
        "markets": Role.VIEWER,
        "test": Role.TRADER,
        "create": Role.ADMIN,
        "credentials": Role.ADMIN,
        "destroy": Role.ADMIN,
    }
    required_scopes = {"test": Scope.TRADE, "create": Scope.ADMIN, "credentials": Scope.ADMIN, "destroy": Scope.ADMIN}
    http_method_names = ["get", "post", "put", "delete", "head", "options"]
    pagination_class = None

    def refine_queryset(self, queryset):
        return queryset.order_by("-mode", "label")

    def create(self, request: Request, **kwargs: Any) -> Response:
        body = ExchangeAccountCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        self.require_reauthentication_for_session()
        account = service.exchange_account_create(
            organization=self.organization,
            actor=request.user,
            exchange_id=body.validated_data["exchange_id"].lower(),
            label=body.validated_data["label"],
            mode=ExchangeAccount.Mode.LIVE,
            credentials=body.validated_data["credentials"],
            accept_main_key_risk=body.validated_data["accept_main_key_risk"],
        )
        return Response(ExchangeAccountSerializer(account).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["put"])
    def credentials(self, request: Request, **kwargs: Any) -> Response:
        account = self.get_object()
        body = CredentialsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        self.require_reauthentication_for_session()
        account = service.exchange_account_replace_credentials(
            organization=self.organization,
            actor=request.user,
            account=account,
            credentials=body.validated_data["credentials"],
            accept_main_key_risk=body.validated_data["accept_main_key_risk"],
        )
        return Response(ExchangeAccountSerializer(account).data)

    @action(detail=True, methods=["post"])
    def test(self, request: Request, **kwargs: Any) -> Response:
        report = service.exchange_account_test(
            organization=self.organization, actor=request.user, account=self.get_object()
        )
        balances = [
            {"asset": b.asset, "total": str(b.total), "free": str(b.free), "used": str(b.used)} for b in report.balances
        ]
        return Response(
            {
                "ok": report.ok,
                "account": report.account,
                "can_trade": report.can_trade,
                "can_withdraw": report.can_withdraw,
                "message": report.message,
                "balances": balances,
            }
        )

    @action(detail=True, methods=["get"])
    def markets(self, request: Request, **kwargs: Any) -> Response:
        account = self.get_object()
        try:
            markets = service.exchange_account_adapter(account).load_markets()
        except ExchangeError as error:
            raise UpstreamError(f"Could not load the markets: {error}") from error
        ordered = sorted(markets.values(), key=lambda market: market.symbol)
        return Response(MarketSerializer(ordered, many=True).data)

    def destroy(self, request: Request, **kwargs: Any) -> Response:
        service.exchange_account_remove(organization=self.organization, actor=request.user, account=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


router = SimpleRouter()
router.register("exchange-accounts", ExchangeAccountViewSet, basename="exchange-account")

api_org_urlpatterns = [*router.urls]


# --- market data ---------------------------------------------------------------------------

MAX_CANDLES_PER_PAGE = 5000


class CandleSeriesSerializer(serializers.Serializer):
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    market_type = serializers.CharField()
    timeframe = serializers.CharField()
    first_open_time = serializers.DateTimeField(allow_null=True)
    last_open_time = serializers.DateTimeField(allow_null=True)
    candle_count = serializers.IntegerField()


class CandleQuerySerializer(StrictQuerySerializer):
    exchange = serializers.CharField(max_length=32)
    symbol = serializers.CharField(max_length=64)
    market_type = serializers.ChoiceField(choices=[m.value for m in MarketType], default=MarketType.SPOT.value)
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAME_SECONDS))
    start = serializers.DateTimeField(required=False, help_text="Inclusive, ISO 8601.")
    end = serializers.DateTimeField(required=False, help_text="Exclusive, ISO 8601.")
    limit = serializers.IntegerField(min_value=1, max_value=MAX_CANDLES_PER_PAGE, default=1000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("start") and attrs.get("end") and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"end": ["Must be after start."]})
        return attrs


class CandleSerializer(serializers.Serializer):
    open_time = serializers.DateTimeField()
    open = serializers.DecimalField(max_digits=30, decimal_places=12, coerce_to_string=True, normalize_output=True)
    high = serializers.DecimalField(max_digits=30, decimal_places=12, coerce_to_string=True, normalize_output=True)
    low = serializers.DecimalField(max_digits=30, decimal_places=12, coerce_to_string=True, normalize_output=True)
    close = serializers.DecimalField(max_digits=30, decimal_places=12, coerce_to_string=True, normalize_output=True)
    volume = serializers.DecimalField(max_digits=30, decimal_places=12, coerce_to_string=True, normalize_output=True)
    is_closed = serializers.BooleanField(help_text="False for a still-forming candle: never use it as final.")


class CandlePageSerializer(serializers.Serializer):
    candles = CandleSerializer(many=True)
    next_start = serializers.DateTimeField(allow_null=True, help_text="Pass as `start` for the next page.")


class CandleSeriesListView(OrganizationAPIView):
    required_roles = {"get": Role.VIEWER}

    @extend_schema(
        summary="List stored candle series",
        tags=["market data"],
        responses={200: CandleSeriesSerializer(many=True), **error_responses()},
    )
    def get(self, request: Request, **kwargs: Any) -> Response:
        return Response(CandleSeriesSerializer(available_series(), many=True).data)


class CandleListView(OrganizationAPIView):
    required_roles = {"get": Role.VIEWER}

    @extend_schema(
        summary="Query candles",
        tags=["market data"],
        parameters=[CandleQuerySerializer],
        description="Oldest first; prices and volumes are decimal strings. Page with `next_start`.",
        responses={200: CandlePageSerializer, **error_responses(400)},
    )
    def get(self, request: Request, **kwargs: Any) -> Response:
        query = CandleQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        params = query.validated_data
        series = SeriesKey(params["exchange"], params["symbol"], params["market_type"], params["timeframe"])
        rows = list(
            candles_range(series=series, start=params.get("start"), end=params.get("end"))[: params["limit"] + 1]
        )
        more = len(rows) > params["limit"]
        page = rows[: params["limit"]]
        return Response(
            {
                "candles": CandleSerializer(page, many=True).data,
                "next_start": rows[-1].open_time if more else None,
            }
        )


api_org_urlpatterns += [
    path("candle-series/", CandleSeriesListView.as_view(), name="candle-series-list"),
    path("candles/", CandleListView.as_view(), name="candle-list"),
]
