"""schemathesis against the live OpenAPI schema (issue 3): every operation, authenticated with
an owner's admin-scope API key, a bounded number of generated requests each, through the real
WSGI application. Zero 5xx and zero schema violations (status codes, content types, headers and
bodies must match what /api/schema/ documents)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from accounts.models import ApiKey, AuditEvent, Invitation, Membership, Organization
from accounts.roles import Role
from accounts.services.audit import audit_record
from accounts.tests.api_helpers import issue_key
from accounts.tests.factories import InvitationFactory, MembershipFactory, OrganizationFactory
from accounts.webhooks.models import WebhookDelivery, WebhookEndpoint
from accounts.webhooks.services import webhook_endpoint_create, webhook_send_test_event

ORG_SLUG = "schemathesis-org"
# Loopback is allow-listed for webhooks in test settings; nothing is sent (deliveries go out
# after commit, and this test never commits).
WEBHOOK_URL = "http://127.0.0.1:9/schemathesis-hook"


@dataclass
class World:
    """The organization the generated requests run against, put back before each request
    (a generated PATCH may require 2FA, a DELETE may revoke the key in use)."""

    org: Organization
    owner_membership: Membership
    api_key: ApiKey
    secret: str
    spare_key: ApiKey

    def restore(self) -> None:
        Organization.objects.filter(pk=self.org.pk).update(require_2fa=False, deleted_at=None, purge_after=None)
        Membership.objects.for_org(self.org).filter(pk=self.owner_membership.pk).update(role=Role.OWNER)
        ApiKey.objects.for_org(self.org).filter(pk__in=[self.api_key.pk, self.spare_key.pk]).update(
            revoked_at=None, expires_at=None
        )

    def real_id(self, path: str) -> int | None:
        """The id of a row of this organization for a detail URL (made when a request deleted it)."""
        org, owner = self.org, self.owner_membership.user
        if "/members/" in path:
            others = Membership.objects.for_org(org).exclude(pk=self.owner_membership.pk)
            return (others.first() or MembershipFactory(organization=org, role=Role.TRADER)).pk
        if "/invitations/" in path:
            pending = Invitation.objects.for_org(org).filter(status=Invitation.Status.PENDING)
            return (pending.first() or InvitationFactory(organization=org)).pk
        if "/api-keys/" in path:
            return self.spare_key.pk
        if "/audit-events/" in path:
            return AuditEvent.objects.for_org(org).order_by("pk").first().pk
        if "/webhook-endpoints/" in path:
            endpoint = WebhookEndpoint.objects.for_org(org).first()
            return (endpoint or webhook_endpoint_create(organization=org, actor=owner, url=WEBHOOK_URL).endpoint).pk
        if "/webhook-deliveries/" in path:
            delivery = WebhookDelivery.objects.for_org(org).first()
            if delivery is None:
                endpoint = WebhookEndpoint.objects.for_org(org).get(pk=self.real_id("/webhook-endpoints/"))
                delivery = webhook_send_test_event(organization=org, actor=owner, endpoint=endpoint)
            return delivery.pk
        return None


@pytest.fixture
def world(db, settings) -> World:
    # Many requests in a few seconds: the rate limits are tested elsewhere (test_api_errors).
    settings.API_RATE_PER_KEY = settings.API_RATE_PER_USER = "1000000/min"
    org = OrganizationFactory(slug=ORG_SLUG, name="Schemathesis")
    owner = MembershipFactory(organization=org, role=Role.OWNER)
    for role in (Role.ADMIN, Role.TRADER, Role.VIEWER):
        MembershipFactory(organization=org, role=role)
    for index in range(3):
        InvitationFactory(organization=org, email=f"invitee{index}@example.com")
        audit_record(action=f"test.seeded{index}", organization=org, actor=owner.user)
    issued = issue_key(org, owner.user, name="schemathesis")
    spare = issue_key(org, owner.user, scopes=["read"], name="a key to rotate and revoke")
    return World(org=org, owner_membership=owner, api_key=issued.api_key, secret=issued.secret, spare_key=spare.api_key)


@pytest.fixture
def live_wsgi(world):
    """Requests go through the WSGI handler itself, not Django's test client: keep the test's
    database connection (and its transaction) open across them, as the test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# What the responses must satisfy: no server error; status code, content type, headers and
# body as documented; 405 for a method the schema does not list; 401 without the key.
# (negative_data_rejection / positive_data_acceptance judge how strictly *requests* are parsed:
# DRF coerces "true" to a boolean and ignores a non-numeric page_size, which is not a
# response-conformance question.)
RESPONSE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    unsupported_method,
    ignored_auth,
]

# The schema as the running site serves it (generating it touches no database). org_slug is
# fixed to the test organization so requests reach real rows; the key is sent per request.
# (schemathesis.pytest.from_fixture would build this inside a fixture, but schemathesis 4.32
# writes `request.node._nodeid`, which pytest 9.2 no longer has.)
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
schema.config.update(parameters={"path.org_slug": ORG_SLUG})


@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@schema.parametrize()
def test_every_operation_conforms_to_its_schema(case, world, live_wsgi):
    world.restore()
    # Generated ids almost never name a row: point every other one at a real row of the
    # organization, so detail operations answer 2xx too (and their bodies are checked).
    generated_id = (case.path_parameters or {}).get("id")
    if isinstance(generated_id, int) and generated_id % 2 == 0:
        case.path_parameters["id"] = world.real_id(case.operation.path)
    case.call_and_validate(headers={"Authorization": f"Bearer {world.secret}"}, checks=RESPONSE_CHECKS)
