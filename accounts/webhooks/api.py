"""REST API for webhook endpoints, their delivery log and the event types.
Thin: validate with a serializer, call one service, serialize the result."""

from __future__ import annotations

from typing import Any

import django_filters
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
from accounts.webhooks import services
from accounts.webhooks.events import webhook_event_types
from accounts.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from asterweb.api_errors import error_responses
from asterweb.serializers import StrictSerializer

TAGS = ["webhooks"]

# --- serializers ------------------------------------------------------------------------


class _EventTypesField(serializers.ListField):
    """Subscribable event types, read from the events bus each time a serializer is made (each
    serializer deep-copies its fields by re-running this): apps declare theirs at start-up."""

    def __init__(self, **kwargs: Any) -> None:
        names = list(webhook_event_types())
        kwargs.setdefault("help_text", "Event types to send; empty means every type, including ones added later.")
        super().__init__(child=serializers.ChoiceField(choices=names), max_length=len(names), **kwargs)


def _event_type_field(**kwargs: Any) -> serializers.ListField:
    return _EventTypesField(**kwargs)


class WebhookEndpointSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(child=serializers.CharField(), help_text="Empty: every event type.")
    previous_secret_valid_until = serializers.DateTimeField(
        source="previous_secret_expires_at",
        allow_null=True,
        help_text="After a rotation, until when the previous secret also signs requests.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "active",
            "created_at",
            "updated_at",
            "disabled_at",
            "disabled_reason",
            "failing_since",
            "previous_secret_valid_until",
        ]
        read_only_fields = fields


class WebhookEndpointIssuedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        allow_null=True,
        help_text="The signing secret (whsec_...), shown only in this response: store it now. Null when an "
        "Idempotency-Key replay returns this response again (the secret is never shown twice).",
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookEndpointCreateSerializer(StrictSerializer):
    url = serializers.CharField(max_length=services.MAX_URL_LENGTH, help_text="A public https:// URL.")
    description = serializers.CharField(
        max_length=services.MAX_DESCRIPTION_LENGTH, required=False, allow_blank=True, default=""
    )
    event_types = _event_type_field(required=False, default=list)
    active = serializers.BooleanField(required=False, default=True)


class WebhookEndpointUpdateSerializer(StrictSerializer):
    url = serializers.CharField(max_length=services.MAX_URL_LENGTH, required=False)
    description = serializers.CharField(max_length=services.MAX_DESCRIPTION_LENGTH, required=False, allow_blank=True)
    event_types = _event_type_field(required=False)
    active = serializers.BooleanField(required=False, help_text="Enabling an endpoint clears its failure record.")


class WebhookEventSerializer(serializers.ModelSerializer):
    created = serializers.SerializerMethodField(help_text="When it happened, in Unix seconds.")

    class Meta:
        model = WebhookEvent
        fields = ["id", "type", "created", "data"]
        read_only_fields = fields

    def get_created(self, event: WebhookEvent) -> int:
        return int(event.created_at.timestamp())


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event = WebhookEventSerializer()
    endpoint = serializers.PrimaryKeyRelatedField(read_only=True, help_text="The endpoint's id.")
    response_body = serializers.CharField(help_text="The start of the last response body (2 KB at most).")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "endpoint",
            "state",
            "attempts",
            "created_at",
            "first_attempt_at",
            "last_attempt_at",
            "next_attempt_at",
            "response_status",
            "latency_ms",
            "response_body",
            "error",
        ]
        read_only_fields = fields


class WebhookEventTypeSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    example = serializers.DictField(help_text="What the event's `data` looks like.")


# --- endpoints --------------------------------------------------------------------------

_ENDPOINT_EXAMPLE = {
    "id": 7,
    "url": "https://example.com/hooks/asterai",
    "description": "Ops alerts",
    "event_types": ["member.added", "member.removed"],
    "active": True,
    "created_at": "2026-11-22T10:00:00Z",
    "updated_at": "2026-11-22T10:00:00Z",
    "disabled_at": None,
    "disabled_reason": "",
    "failing_since": None,
    "previous_secret_valid_until": None,
}


@extend_schema_view(
    list=extend_schema(
        summary="List webhook endpoints", responses={200: WebhookEndpointSerializer(many=True), **error_responses()}
    ),
    retrieve=extend_schema(
        summary="Get a webhook endpoint", responses={200: WebhookEndpointSerializer, **error_responses()}
    ),
    create=extend_schema(
        summary="Add a webhook endpoint",
        description="The signing secret is in the response's `secret` and is never shown again. The URL must be "
        "https and resolve to a public address.",
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointIssuedSerializer, **error_responses(400, 409)},
        examples=[
            OpenApiExample(
                "Membership changes only",
                request_only=True,
                value={
                    "url": "https://example.com/hooks/asterai",
                    "description": "Ops alerts",
                    "event_types": ["member.added", "member.removed"],
                },
            ),
            OpenApiExample(
                "Created",
                response_only=True,
                status_codes=["201"],
                value={**_ENDPOINT_EXAMPLE, "secret": "whsec_hT3v0o1q8c5bQe7l2JmWkq4yZp9sRa6dXfNgUiCtVbE"},
            ),
        ],
    ),
    partial_update=extend_schema(
        summary="Change a webhook endpoint",
        description="Changing `url` needs a browser session that recently confirmed its password "
        "(past deliveries can be redelivered to the new URL); API keys get a 403 `browser_session_required`.",
        request=WebhookEndpointUpdateSerializer,
        responses={200: WebhookEndpointSerializer, **error_responses(400)},
        examples=[OpenApiExample("Re-enable", request_only=True, value={"active": True})],
    ),
    destroy=extend_schema(
        summary="Delete a webhook endpoint",
        description="Its delivery log goes with it.",
        responses={204: None, **error_responses()},
    ),
    test=extend_schema(
        summary="Send a test event",
        description="Queues a `webhook.test` event to this endpoint (whatever it subscribes to) and returns "
        "the delivery; follow it in the delivery log.",
        request=None,
        responses={202: WebhookDeliverySerializer, **error_responses(409)},
    ),
    rotate_secret=extend_schema(
        summary="Rotate the signing secret",
        description="Returns a new secret, shown once. For 24 hours requests carry a second `v1` signature "
        "made with the previous secret.",
        request=None,
        responses={200: WebhookEndpointIssuedSerializer, **error_responses()},
    ),
)
@extend_schema(tags=TAGS)
class WebhookEndpointViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, OrganizationViewSet
):
    model = WebhookEndpoint
    serializer_class = WebhookEndpointSerializer
    required_roles = {
        "list": Role.ADMIN,
        "retrieve": Role.ADMIN,
        "create": Role.ADMIN,
        "partial_update": Role.ADMIN,
        "destroy": Role.ADMIN,
        "test": Role.ADMIN,
        "rotate_secret": Role.ADMIN,
    }
    required_scopes = {
        "create": Scope.ADMIN,
        "partial_update": Scope.ADMIN,
        "destroy": Scope.ADMIN,
        "test": Scope.ADMIN,
        "rotate_secret": Scope.ADMIN,
    }
    idempotent_actions = ("create", "test")
    idempotency_secret_fields = ("secret",)
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filterset_fields = ["active"]
    ordering_fields = ["created_at"]

    def create(self, request: Request, **kwargs: Any) -> Response:
        body = WebhookEndpointCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        self.require_reauthentication_for_session()
        issued = services.webhook_endpoint_create(
            organization=self.organization, actor=request.user, **body.validated_data
        )
        return Response(_issued(issued), status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        endpoint = self.get_object()
        body = WebhookEndpointUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if services.webhook_endpoint_url_changes(endpoint=endpoint, url=body.validated_data.get("url")):
            # Past deliveries can be redelivered to the new URL: as sensitive as minting a secret.
            self.require_reauthenticated_browser_session(action="Changing an endpoint's URL")
        endpoint = services.webhook_endpoint_update(
            organization=self.organization, actor=request.user, endpoint=endpoint, **body.validated_data
        )
        return Response(WebhookEndpointSerializer(endpoint).data)

    def destroy(self, request: Request, **kwargs: Any) -> Response:
        services.webhook_endpoint_delete(organization=self.organization, actor=request.user, endpoint=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def test(self, request: Request, **kwargs: Any) -> Response:
        delivery = services.webhook_send_test_event(
            organization=self.organization, actor=request.user, endpoint=self.get_object()
        )
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, **kwargs: Any) -> Response:
        endpoint = self.get_object()
        self.require_reauthentication_for_session()
        issued = services.webhook_endpoint_rotate_secret(
            organization=self.organization, actor=request.user, endpoint=endpoint
        )
        return Response(_issued(issued))


def _issued(issued: services.IssuedEndpoint) -> dict[str, Any]:
    return {**WebhookEndpointSerializer(issued.endpoint).data, "secret": issued.secret}


# --- deliveries -------------------------------------------------------------------------


class WebhookDeliveryFilter(django_filters.FilterSet):
    endpoint = django_filters.NumberFilter(field_name="endpoint_id", help_text="Only deliveries to this endpoint.")
    state = django_filters.ChoiceFilter(choices=WebhookDelivery.State.choices)
    event = django_filters.CharFilter(field_name="event_id", help_text="Only deliveries of this event (evt_...).")

    class Meta:
        model = WebhookDelivery
        fields = ["endpoint", "state", "event"]


@extend_schema_view(
    list=extend_schema(
        summary="List webhook deliveries",
        description="The delivery log, newest first.",
        responses={200: WebhookDeliverySerializer(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary="Get a webhook delivery", responses={200: WebhookDeliverySerializer, **error_responses()}
    ),
    redeliver=extend_schema(
        summary="Redeliver",
        description="Sends the delivery's event to its endpoint again, as a new delivery (same event id) with "
        "its own retries.",
        request=None,
        responses={202: WebhookDeliverySerializer, **error_responses(409)},
    ),
)
@extend_schema(tags=TAGS)
class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationViewSet):
    model = WebhookDelivery
    serializer_class = WebhookDeliverySerializer
    required_roles = {"list": Role.ADMIN, "retrieve": Role.ADMIN, "redeliver": Role.ADMIN}
    required_scopes = {"redeliver": Scope.ADMIN}
    idempotent_actions = ("redeliver",)
    http_method_names = ["get", "post", "head", "options"]
    filterset_class = WebhookDeliveryFilter
    ordering_fields = ["created_at"]

    def refine_queryset(self, queryset):
        return queryset.select_related("event")

    @action(detail=True, methods=["post"])
    def redeliver(self, request: Request, **kwargs: Any) -> Response:
        delivery = services.webhook_delivery_redeliver(
            organization=self.organization, actor=request.user, delivery=self.get_object()
        )
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


# --- event types ------------------------------------------------------------------------


class WebhookEventTypeListView(OrganizationAPIView):
    required_roles = {"get": Role.VIEWER}

    @extend_schema(
        summary="List webhook event types",
        description="The types an endpoint can subscribe to.",
        responses={200: WebhookEventTypeSerializer(many=True), **error_responses()},
        tags=TAGS,
    )
    def get(self, request: Request, **kwargs: Any) -> Response:
        return Response(WebhookEventTypeSerializer(webhook_event_types().values(), many=True).data)


router = SimpleRouter()
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="webhook-delivery")

api_org_urlpatterns = [
    *router.urls,
    path("webhook-event-types/", WebhookEventTypeListView.as_view(), name="webhook-event-type-list"),
]
