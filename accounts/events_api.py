"""REST API: the organization's events since a sequence number, so a client whose feed dropped
(a websocket reconnect, a missed webhook) can catch up. Members see the events their role allows."""

from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.routers import SimpleRouter

from accounts.api_base import OrganizationViewSet
from accounts.models import OrganizationEvent
from accounts.roles import Role, roles_up_to
from asterweb.api_errors import error_responses
from asterweb.pagination import CursorPagination


class OrganizationEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrganizationEvent
        fields = ["id", "sequence", "type", "created_at", "data"]
        read_only_fields = fields


@extend_schema_field({"type": "integer", "minimum": 0})
class _SequenceFilter(django_filters.NumberFilter):
    """A sequence number: a whole number from 0 (the schema says so, so clients and fuzzers know)."""

    field_class = forms.IntegerField


class OrganizationEventFilter(django_filters.FilterSet):
    after = _SequenceFilter(
        field_name="sequence", lookup_expr="gt", min_value=0, help_text="The last sequence number you have."
    )
    type = django_filters.CharFilter(field_name="type", lookup_expr="startswith", help_text="Event type prefix.")

    class Meta:
        model = OrganizationEvent
        fields = ["after", "type"]


class _BySequence(CursorPagination):
    ordering = "sequence"


@extend_schema_view(
    list=extend_schema(
        summary="List events since a sequence number",
        description="Every event of the organization carries a sequence number (1, 2, 3... in the order they "
        "happened; the websocket feed sends it too). After a reconnect, ask for `after=<the last number you "
        "have>` and page on. Numbers your role may not see are skipped.",
        responses={200: OrganizationEventSerializer(many=True), **error_responses(400)},
        tags=["events"],
    ),
)
class OrganizationEventViewSet(mixins.ListModelMixin, OrganizationViewSet):
    model = OrganizationEvent
    serializer_class = OrganizationEventSerializer
    required_roles = {"list": Role.VIEWER}
    filterset_class = OrganizationEventFilter
    pagination_class = _BySequence
    ordering_fields = ["sequence"]

    def refine_queryset(self, queryset):
        return queryset.filter(min_role__in=roles_up_to(self.membership.role))


router = SimpleRouter()
router.register("events", OrganizationEventViewSet, basename="event")

api_org_urlpatterns = router.urls
