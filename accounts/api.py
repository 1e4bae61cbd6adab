"""REST API for the caller, organizations, members, invitations, the audit log and API keys.
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
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api_base import OrganizationAPIView, OrganizationViewSet
from accounts.models import ApiKey, AuditEvent, Invitation, Membership, Scope
from accounts.roles import Role, role_at_least
from accounts.services.api_keys import IssuedKey, api_key_create, api_key_revoke, api_key_rotate
from asterweb.api_errors import error_responses
from asterweb.serializers import StrictSerializer

# --- serializers ------------------------------------------------------------------------


class UserSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()


class OrganizationSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    require_2fa = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class MyMembershipSerializer(serializers.Serializer):
    organization = OrganizationSerializer()
    role = serializers.ChoiceField(choices=Role.choices)


class CredentialSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["api_key", "session"])
    api_key_prefix = serializers.CharField(allow_null=True)
    organization = serializers.SlugField(allow_null=True, help_text="The only organization an API key works in.")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices), allow_null=True)


class MeSerializer(serializers.Serializer):
    user = UserSummarySerializer()
    credential = CredentialSerializer()
    memberships = MyMembershipSerializer(many=True)


class OrganizationDetailSerializer(OrganizationSerializer):
    role = serializers.ChoiceField(choices=Role.choices, help_text="Your role here.")
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices), help_text="What this request may do here."
    )


class OrganizationUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100, required=False)
    require_2fa = serializers.BooleanField(required=False)


class MembershipSerializer(serializers.ModelSerializer):
    user = UserSummarySerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "created_at"]
        read_only_fields = fields


class MembershipUpdateSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer):
    invited_by = serializers.EmailField(source="invited_by.email", allow_null=True, read_only=True, default=None)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "status", "invited_by", "created_at", "expires_at"]
        read_only_fields = fields


class InvitationCreateSerializer(StrictSerializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")
    ip = serializers.IPAddressField(
        source="ip_for_tenant", allow_null=True, help_text="Null for support staff's actions (never shown)."
    )
    user_agent = serializers.CharField(source="user_agent_for_tenant", help_text="Empty for support staff's actions.")

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "action",
            "actor",
            "actor_user_id",
            "actor_api_key_id",
            "target_type",
            "target_id",
            "target_label",
            "ip",
            "user_agent",
            "details",
        ]
        read_only_fields = fields


class ApiKeySerializer(serializers.ModelSerializer):
    user = serializers.EmailField(source="user.email", read_only=True)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices))
    allowed_cidrs = serializers.ListField(child=serializers.CharField())
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "user",
            "scopes",
            "allowed_cidrs",
            "expires_at",
            "created_at",
            "rotated_at",
            "previous_secret_valid_until",
            "revoked_at",
            "last_used_at",
            "last_used_ip",
            "is_active",
            "created_with_second_factor",
        ]
        read_only_fields = fields


class ApiKeyIssuedSerializer(ApiKeySerializer):
    key = serializers.CharField(
        allow_null=True,
        help_text="The full key, shown only in this response: store it now. Null when an Idempotency-Key "
        "replay returns this response again (the key is never shown twice).",
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class ApiKeyCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices), min_length=1, max_length=len(Scope.values)
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    allowed_cidrs = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        default=list,
        max_length=50,
        help_text="IP addresses or CIDR ranges the key may be used from; empty means anywhere.",
    )


def _issued(issued: IssuedKey) -> dict[str, Any]:
    return {**ApiKeySerializer(issued.api_key).data, "key": issued.secret}


# --- the caller -------------------------------------------------------------------------


class MeView(APIView):
    @extend_schema(summary="Who am I", responses={200: MeSerializer, **error_responses()}, tags=["account"])
    def get(self, request: Request) -> Response:
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        memberships = selectors.memberships_of_user(user=request.user)
        if api_key is not None:
            memberships = memberships.filter(organization=api_key.organization)
        data = {
            "user": request.user,
            "credential": {
                "kind": "api_key" if api_key else "session",
                "api_key_prefix": api_key.prefix if api_key else None,
                "organization": api_key.organization.slug if api_key else None,
                "scopes": api_key.scopes if api_key else None,
            },
            "memberships": memberships,
        }
        return Response(MeSerializer(data).data)


class OrganizationListView(APIView):
    @extend_schema(
        summary="List my organizations",
        responses={200: MyMembershipSerializer(many=True), **error_responses()},
        tags=["organizations"],
    )
    def get(self, request: Request) -> Response:
        memberships = selectors.memberships_of_user(user=request.user)
        if isinstance(request.auth, ApiKey):
            memberships = memberships.filter(organization=request.auth.organization)
        return Response(MyMembershipSerializer(memberships, many=True).data)


class OrganizationDetailView(OrganizationAPIView):
    required_roles = {"get": Role.VIEWER, "patch": Role.ADMIN}
    required_scopes = {"patch": Scope.ADMIN}

    def _body(self) -> dict[str, Any]:
        return {
            **OrganizationSerializer(self.organization).data,
            "role": self.membership.role,
            "scopes": sorted(self.scopes),
        }

    @extend_schema(
        summary="Get an organization",
        responses={200: OrganizationDetailSerializer, **error_responses()},
        tags=["organizations"],
    )
    def get(self, request: Request, **kwargs: Any) -> Response:
        return Response(self._body())

    @extend_schema(
        summary="Update an organization's settings",
        description="Switching `require_2fa` off needs a browser session that recently confirmed its password; "
        "API keys get a 403 `browser_session_required`.",
        request=OrganizationUpdateSerializer,
        responses={200: OrganizationDetailSerializer, **error_responses(400)},
        tags=["organizations"],
    )
    def patch(self, request: Request, **kwargs: Any) -> Response:
        body = OrganizationUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        require_2fa = body.validated_data.get("require_2fa", self.organization.require_2fa)
        if self.organization.require_2fa and not require_2fa:
            self.require_reauthenticated_browser_session(action="Switching off the two-factor requirement")
        self.organization = services.organization_update(
            organization=self.organization,
            actor=request.user,
            name=body.validated_data.get("name", self.organization.name),
            require_2fa=require_2fa,
        )
        return Response(self._body())


# --- members and invitations ------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List members", responses={200: MembershipSerializer(many=True), **error_responses(400)}
    ),
    retrieve=extend_schema(summary="Get a member", responses={200: MembershipSerializer, **error_responses()}),
    partial_update=extend_schema(
        summary="Change a member's role",
        request=MembershipUpdateSerializer,
        responses={200: MembershipSerializer, **error_responses(400, 409)},
    ),
    destroy=extend_schema(summary="Remove a member", responses={204: None, **error_responses(400, 409)}),
)
class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationViewSet):
    model = Membership
    serializer_class = MembershipSerializer
    required_roles = {"list": Role.VIEWER, "retrieve": Role.VIEWER, "partial_update": Role.ADMIN, "destroy": Role.ADMIN}
    required_scopes = {"partial_update": Scope.ADMIN, "destroy": Scope.ADMIN}
    http_method_names = ["get", "patch", "delete", "head", "options"]
    filterset_fields = ["role"]

    def refine_queryset(self, queryset):
        return queryset.select_related("user")

    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        membership = self.get_object()
        body = MembershipUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            organization=self.organization,
            actor_membership=self.membership,
            membership=membership,
            role=body.validated_data["role"],
        )
        return Response(MembershipSerializer(membership).data)

    def destroy(self, request: Request, **kwargs: Any) -> Response:
        services.membership_remove(
            organization=self.organization, actor_membership=self.membership, membership=self.get_object()
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(
        summary="List invitations",
        description="Every invitation; filter with `status=pending`.",
        responses={200: InvitationSerializer(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(summary="Get an invitation", responses={200: InvitationSerializer, **error_responses()}),
    create=extend_schema(
        summary="Invite someone by email",
        request=InvitationCreateSerializer,
        responses={201: InvitationSerializer, **error_responses(400, 409)},
        examples=[
            OpenApiExample("Invite a trader", value={"email": "ana@example.com", "role": "trader"}, request_only=True)
        ],
    ),
    destroy=extend_schema(summary="Revoke an invitation", responses={204: None, **error_responses(409)}),
    resend=extend_schema(
        summary="Send a fresh invitation link",
        request=None,
        responses={200: InvitationSerializer, **error_responses(409)},
    ),
)
class InvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, OrganizationViewSet):
    model = Invitation
    serializer_class = InvitationSerializer
    required_roles = {
        "list": Role.ADMIN,
        "retrieve": Role.ADMIN,
        "create": Role.ADMIN,
        "destroy": Role.ADMIN,
        "resend": Role.ADMIN,
    }
    required_scopes = {"create": Scope.ADMIN, "destroy": Scope.ADMIN, "resend": Scope.ADMIN}
    http_method_names = ["get", "post", "delete", "head", "options"]
    filterset_fields = ["status"]

    def refine_queryset(self, queryset):
        return queryset.select_related("invited_by")

    def create(self, request: Request, **kwargs: Any) -> Response:
        body = InvitationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        invitation = services.invitation_create(
            organization=self.organization, actor_membership=self.membership, **body.validated_data
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, **kwargs: Any) -> Response:
        services.invitation_revoke(
            organization=self.organization, actor_membership=self.membership, invitation=self.get_object()
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def resend(self, request: Request, **kwargs: Any) -> Response:
        invitation = services.invitation_resend(
            organization=self.organization, actor_membership=self.membership, invitation=self.get_object()
        )
        return Response(InvitationSerializer(invitation).data)


# --- audit log --------------------------------------------------------------------------


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(field_name="action", lookup_expr="startswith", help_text="Action prefix.")
    actor = django_filters.CharFilter(field_name="actor_label", lookup_expr="icontains")
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "since", "until"]


@extend_schema_view(
    list=extend_schema(
        summary="List audit events", responses={200: AuditEventSerializer(many=True), **error_responses(400)}
    ),
    retrieve=extend_schema(summary="Get an audit event", responses={200: AuditEventSerializer, **error_responses()}),
)
class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationViewSet):
    model = AuditEvent
    serializer_class = AuditEventSerializer
    required_roles = {"list": Role.ADMIN, "retrieve": Role.ADMIN}
    filterset_class = AuditEventFilter


# --- API keys ---------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List API keys",
        description="Your keys; admins see every member's keys.",
        responses={200: ApiKeySerializer(many=True), **error_responses()},
    ),
    retrieve=extend_schema(summary="Get an API key", responses={200: ApiKeySerializer, **error_responses()}),
    create=extend_schema(
        summary="Create an API key",
        description="The full key is in the response's `key` and is never shown again. A key created with an "
        "API key gets no more than that key: its scopes, no later expiry (its expiry when none is given) and "
        "networks within its IP allow-list (its list when none is given); revoking it revokes this one too.",
        request=ApiKeyCreateSerializer,
        responses={201: ApiKeyIssuedSerializer, **error_responses(400, 403, 409)},
        examples=[
            OpenApiExample(
                "A read-only key for a dashboard",
                request_only=True,
                value={"name": "grafana", "scopes": ["read"], "allowed_cidrs": ["203.0.113.0/24"]},
            )
        ],
    ),
    rotate=extend_schema(
        summary="Rotate an API key",
        description="Issues a new secret for the same key; the previous secret keeps working for the rotation "
        "grace period (`previous_secret_valid_until`). Safe to retry: rotating again within that period keeps "
        "the same previous secret and deadline, replacing only the newest secret. With an API key, a key may "
        "rotate itself; rotating another needs the admin scope.",
        request=None,
        responses={200: ApiKeyIssuedSerializer, **error_responses(400, 403)},
    ),
    destroy=extend_schema(
        summary="Revoke an API key",
        description="Keys created with this key are revoked too. With an API key, a key may revoke itself; "
        "revoking another needs the admin scope.",
        responses={204: None, **error_responses(403)},
    ),
)
class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, OrganizationViewSet):
    model = ApiKey
    serializer_class = ApiKeySerializer
    required_roles = {
        "list": Role.VIEWER,
        "retrieve": Role.VIEWER,
        "create": Role.VIEWER,
        "rotate": Role.VIEWER,
        "destroy": Role.VIEWER,
    }
    # Minting or rotating a key can never grant more than the request holds (see the service).
    required_scopes = {"create": Scope.READ, "rotate": Scope.READ, "destroy": Scope.READ}
    idempotency_secret_fields = ("key",)
    http_method_names = ["get", "post", "delete", "head", "options"]

    def refine_queryset(self, queryset):
        queryset = queryset.select_related("user")
        if role_at_least(self.membership.role, Role.ADMIN) and Scope.ADMIN in self.scopes:
            return queryset
        return queryset.filter(user=self.request.user)

    def create(self, request: Request, **kwargs: Any) -> Response:
        body = ApiKeyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        self.require_reauthentication_for_session()
        issued = api_key_create(
            organization=self.organization,
            membership=self.membership,
            grantable_scopes=self.scopes,
            created_with_second_factor=self.credential_passed_second_factor(),
            acting_key=self._acting_key(),
            **body.validated_data,
        )
        return Response(_issued(issued), status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def rotate(self, request: Request, **kwargs: Any) -> Response:
        api_key = self.get_object()
        self.require_reauthentication_for_session()
        issued = api_key_rotate(
            organization=self.organization,
            membership=self.membership,
            api_key=api_key,
            grantable_scopes=self.scopes,
            acting_key=self._acting_key(),
        )
        return Response(_issued(issued))

    def destroy(self, request: Request, **kwargs: Any) -> Response:
        api_key_revoke(
            organization=self.organization,
            membership=self.membership,
            api_key=self.get_object(),
            acting_key=self._acting_key(),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _acting_key(self) -> ApiKey | None:
        """The key this request authenticates with (None for a browser session)."""
        return self.request.auth if isinstance(self.request.auth, ApiKey) else None


router = SimpleRouter()
router.register("members", MemberViewSet, basename="member")
router.register("invitations", InvitationViewSet, basename="invitation")
router.register("audit-events", AuditEventViewSet, basename="audit-event")
router.register("api-keys", ApiKeyViewSet, basename="api-key")

api_urlpatterns = [
    path("me", MeView.as_view(), name="me"),
    path("orgs/", OrganizationListView.as_view(), name="organization-list"),
]

api_org_urlpatterns = [
    path("", OrganizationDetailView.as_view(), name="organization-detail"),
    *router.urls,
]
