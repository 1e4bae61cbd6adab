"""schemathesis against the live OpenAPI schema (issues 3 and 11): every operation,
authenticated with an owner's admin-scope API key, a bounded number of generated requests
each, through the real WSGI application, with every check (responses as documented, and
requests judged too: schema-violating data refused, schema-valid data accepted or refused
with a documented 400 where scripts/schemathesis.toml says a rule the schema cannot state
applies), positive and negative data, and a stateful run that chains operations through the
links schemathesis infers. The same configuration drives a run against `make run`
(docs/api.md, "Fuzzing the API")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

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


# The schema as the running site serves it (generating it touches no database), with the
# configuration a live run uses. org_slug is fixed to the test organization so requests reach
# real rows; the key is sent per request. (schemathesis.pytest.from_fixture would build this
# inside a fixture, but schemathesis 4.32 writes `request.node._nodeid`, which pytest 9.2 no
# longer has.)
CONFIG_PATH = Path(__file__).resolve().parents[2] / "scripts" / "schemathesis.toml"
os.environ.setdefault("ASTERAI_ORG_SLUG", ORG_SLUG)
os.environ.setdefault("ASTERAI_API_KEY", "set-per-request")  # the world's key replaces it
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/", get_wsgi_application(), config=SchemathesisConfig.from_path(CONFIG_PATH)
)
schema.config.update(parameters={"path.org_slug": ORG_SLUG})


def _bearer(world: World) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.secret}"}


def _point_at_real_rows(case, world: World) -> None:
    """Generated ids almost never name a row: point every other one at a real row of the
    organization, so detail operations answer 2xx too (and their bodies are checked)."""
    generated_id = (case.path_parameters or {}).get("id")
    if isinstance(generated_id, int) and generated_id % 2 == 0:
        case.path_parameters["id"] = world.real_id(case.operation.path)


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
    _point_at_real_rows(case, world)
    case.call_and_validate(headers=_bearer(world))  # every check the configuration enables: all


def test_the_run_generates_valid_and_invalid_data():
    modes = schema.config.generation_for(operation=None).modes
    assert {mode.value for mode in modes} == {"positive", "negative"}


def test_stateful_sequences_conform(world, live_wsgi):
    """Chains of calls (create, then read, change or delete what was created) through the
    links schemathesis infers from the schema."""

    class Workflow(schema.as_state_machine()):
        def before_call(self, case) -> None:
            world.restore()
            _point_at_real_rows(case, world)

        def get_call_kwargs(self, case) -> dict:
            return {"headers": _bearer(world)}

    Workflow.run(
        settings=settings(
            max_examples=15,
            stateful_step_count=4,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
