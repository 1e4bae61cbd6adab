"""Small helpers shared by the API tests (test_api_*.py): issuing keys, calling the API with a
bearer key or a session, checking the one error shape, and snapshotting what is stored."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.db.models import Model
from django.http import HttpResponse
from django.test import Client

from accounts.models import ApiKey, AuditEvent, IdempotencyRecord, Invitation, Membership, Organization, User
from accounts.roles import Role
from accounts.services.api_keys import IssuedKey, api_key_create

# Written down from the design (viewers read, traders trade, admins administer), not read
# from the code: the most a key of each role can hold.
SCOPES_OF_ROLE: dict[str, list[str]] = {
    Role.VIEWER: ["read"],
    Role.TRADER: ["read", "trade"],
    Role.ADMIN: ["read", "trade", "admin"],
    Role.OWNER: ["read", "trade", "admin"],
}
ROLES_LOW_TO_HIGH: list[str] = [Role.VIEWER, Role.TRADER, Role.ADMIN, Role.OWNER]
ALL_SCOPES = ["read", "trade", "admin"]

# The error "type" for each status (Stripe's vocabulary, plus not_found/conflict).
ERROR_TYPE_OF_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
}


def roles_below(role: str) -> list[str]:
    return ROLES_LOW_TO_HIGH[: ROLES_LOW_TO_HIGH.index(role)]


def membership_of(org: Organization, user: User) -> Membership:
    return Membership.objects.for_org(org).get(user=user)


def issue_key(org: Organization, user: User, scopes: Iterable[str] | None = None, **fields: Any) -> IssuedKey:
    """A key for ``user`` in ``org``; by default with every scope the user's role allows."""
    membership = membership_of(org, user)
    chosen = list(scopes) if scopes is not None else SCOPES_OF_ROLE[membership.role]
    return api_key_create(
        organization=org, membership=membership, name=fields.pop("name", "test key"), scopes=chosen, **fields
    )


def bearer(issued: IssuedKey | str) -> dict[str, str]:
    secret = issued if isinstance(issued, str) else issued.secret
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def key_client(issued: IssuedKey | str, **defaults: Any) -> Client:
    """A client that sends the key on every request (and no session)."""
    return Client(**bearer(issued), **defaults)


def call(client: Client, method: str, path: str, body: Any = None, **extra: Any) -> HttpResponse:
    """One request; bodies of unsafe methods go as JSON."""
    method = method.lower()
    if method in ("get", "head", "options"):
        return getattr(client, method)(path, **extra)
    payload = json.dumps(body if body is not None else {})
    return getattr(client, method)(path, payload, content_type="application/json", **extra)


def assert_error(response: HttpResponse, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is ``status`` in the one error shape (and ``code`` when given); returns the body."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"type", "code", "detail", "fields"}, body
    assert body["type"] == ERROR_TYPE_OF_STATUS[status], body
    assert isinstance(body["detail"], str) and body["detail"].strip(), body
    assert isinstance(body["fields"], dict), body
    if code is not None:
        assert body["code"] == code, body
    return body


# Columns that a request may legitimately touch without changing anything (key usage stamps).
_VOLATILE = {"last_used_at", "last_used_ip", "last_login"}
_SNAPSHOT_MODELS: list[type[Model]] = [
    Organization,
    User,
    Membership,
    Invitation,
    ApiKey,
    AuditEvent,
    IdempotencyRecord,
]


def stored_rows() -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables the API writes, for "nothing stored changed" comparisons."""
    snapshot = {}
    for model in _SNAPSHOT_MODELS:
        manager = getattr(model, "all_objects", model._default_manager)
        rows = manager.order_by("pk").values()
        snapshot[model.__name__] = [{k: v for k, v in row.items() if k not in _VOLATILE} for row in rows]
    return snapshot


# --- a URL conf for tests: the site's URLs plus views that fail on purpose -------------------
# Used with override_settings(ROOT_URLCONF="accounts.tests.api_helpers").

from django.urls import path  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from accounts.api_base import OrganizationAPIView  # noqa: E402
from accounts.services.audit import audit_record  # noqa: E402
from asterweb import urls as site_urls  # noqa: E402

EXPLODING_ACTION = "test.before_the_bug"


class ExplodingView(APIView):
    """A bug in an API view that is not organization-scoped."""

    def get(self, request, **kwargs):
        raise RuntimeError("an unexpected bug in a view")


class ExplodingOrganizationView(OrganizationAPIView):
    """A creating POST that writes something and then hits a bug (so nothing may be stored)."""

    required_roles = {"get": Role.VIEWER, "post": Role.VIEWER}
    required_scopes = {"post": "read"}
    idempotent_actions = ("post",)

    def get(self, request, **kwargs):
        raise RuntimeError("an unexpected bug in an organization view")

    def post(self, request, **kwargs):
        audit_record(action=EXPLODING_ACTION, organization=self.organization, actor=request.user)
        if "answer" in request.data:  # a chosen status, e.g. a transient 4xx
            status = int(request.data["answer"])
            return Response({"status": status}, status=status, headers={"Retry-After": "1"})
        if request.data.get("fail", True):
            raise RuntimeError("an unexpected bug after a write")
        return Response({"ok": True}, status=201)


urlpatterns = [
    path("api/v1/explode", ExplodingView.as_view()),
    path("api/v1/orgs/<slug:org_slug>/explode/", ExplodingOrganizationView.as_view()),
    *site_urls.urlpatterns,
]
handler400, handler403 = site_urls.handler400, site_urls.handler403
handler404, handler500 = site_urls.handler404, site_urls.handler500


def reauthenticated_client(user: User) -> Client:
    """A browser session that has just confirmed its password (sensitive API writes need it)."""
    from django.urls import reverse

    from accounts.tests.factories import PASSWORD

    client = Client()
    client.force_login(user)
    response = client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return client
