"""Quotas through one door (accounts.limits.limit_check): each limited action refuses past its
allowance with LimitExceeded naming the limit; the settings answer until a higher app registers
its own allowance (as billing will), which then answers every limit."""

from __future__ import annotations

import pytest
from django.test import override_settings

from accounts.limits import Limit, limit_allowance_register
from accounts.models import ApiKey, Membership
from accounts.roles import Role
from accounts.services import (
    invitation_accept,
    invitation_create,
    invitation_token,
    membership_change_role,
    organization_create,
    ownership_transfer,
)
from accounts.services.api_keys import api_key_create
from accounts.tests.factories import InvitationFactory, MembershipFactory, UserFactory
from accounts.tests.webhook_factories import WebhookEndpointFactory
from accounts.webhooks.services import webhook_endpoint_create
from asterweb.errors import LimitExceeded

pytestmark = pytest.mark.django_db


@pytest.fixture
def allowance():
    """Register an allowance function for the test (as billing would), restoring the previous one."""
    previous = None

    def register(answers: dict[Limit, int | None]):
        nonlocal previous
        previous = limit_allowance_register(lambda *, organization, user, limit: answers.get(limit))

    yield register
    if previous is not None:
        limit_allowance_register(previous)


def _new_key(team, role=Role.OWNER):
    return api_key_create(organization=team.org, membership=team.membership(role), name="k", scopes=["read"])


@override_settings(MAX_KEYS_PER_MEMBER=2)
def test_api_keys_per_member_follow_the_setting_and_revoked_keys_do_not_count(team):
    _new_key(team)
    second = _new_key(team)
    with pytest.raises(LimitExceeded) as refused:
        _new_key(team)
    assert (refused.value.limit, refused.value.allowed, refused.value.status_code) == ("api_keys_per_member", 2, 409)
    _new_key(team, Role.TRADER)  # per member: another member still may
    ApiKey.objects.for_org(team.org).filter(pk=second.api_key.pk).update(revoked_at=second.api_key.created_at)
    _new_key(team)


@override_settings(MAX_ENDPOINTS_PER_ORGANIZATION=1, WEBHOOK_ALLOWED_PRIVATE_NETWORKS=["127.0.0.0/8"])
def test_webhook_endpoints_per_organization_follow_the_setting(team, other_team):
    WebhookEndpointFactory(organization=team.org)
    with pytest.raises(LimitExceeded) as refused:
        webhook_endpoint_create(organization=team.org, actor=team.admin, url="http://127.0.0.1:9/hook")
    assert refused.value.limit == "webhook_endpoints"
    webhook_endpoint_create(organization=other_team.org, actor=other_team.admin, url="http://127.0.0.1:9/hook")


@override_settings(MAX_ORGANIZATIONS_PER_USER=2)
def test_a_user_owns_at_most_the_set_number_of_organizations(outsider):
    organization_create(user=outsider, name="One")
    organization_create(user=outsider, name="Two")
    with pytest.raises(LimitExceeded) as refused:
        organization_create(user=outsider, name="Three")
    assert refused.value.limit == "organizations_per_user"
    assert Membership.objects.for_user(outsider).count() == 2


@override_settings(MAX_ORGANIZATIONS_PER_USER=1)
def test_ownership_cannot_be_handed_to_someone_already_at_their_organizations_cap(team):
    organization_create(user=team.admin, name="Admin's own")
    with pytest.raises(LimitExceeded):
        ownership_transfer(
            organization=team.org, actor_membership=team.membership(Role.OWNER), new_owner=team.membership(Role.ADMIN)
        )
    with pytest.raises(LimitExceeded):
        membership_change_role(
            organization=team.org,
            actor_membership=team.membership(Role.OWNER),
            membership=team.membership(Role.ADMIN),
            role=Role.OWNER,
        )
    assert team.membership(Role.ADMIN).role == Role.ADMIN


@override_settings(MAX_SEATS_PER_ORGANIZATION=5)
def test_seats_count_members_and_pending_invitations(team):
    admin = team.membership(Role.ADMIN)  # the team has 4 members
    invitation = invitation_create(
        organization=team.org, actor_membership=admin, email="fifth@example.com", role="viewer"
    )
    with pytest.raises(LimitExceeded) as refused:
        invitation_create(organization=team.org, actor_membership=admin, email="sixth@example.com", role="viewer")
    assert refused.value.limit == "seats"
    # The pending invitation held its seat: accepting it still fits.
    fifth = UserFactory(email="fifth@example.com")
    invitation_accept(token=invitation_token(invitation), user=fifth)
    assert Membership.objects.for_org(team.org).count() == 5


def test_seats_are_unlimited_by_default(team):
    for _ in range(30):
        MembershipFactory(organization=team.org)
    invitation_create(
        organization=team.org, actor_membership=team.membership(Role.ADMIN), email="more@example.com", role="viewer"
    )


def test_a_registered_allowance_answers_instead_of_the_settings(team, allowance):
    allowance({Limit.API_KEYS_PER_MEMBER: 1, Limit.SEATS: 4})
    _new_key(team)
    with pytest.raises(LimitExceeded):
        _new_key(team)
    with pytest.raises(LimitExceeded) as refused:
        invitation_create(
            organization=team.org, actor_membership=team.membership(Role.ADMIN), email="n@example.com", role="viewer"
        )
    assert refused.value.limit == "seats"


def test_accepting_after_the_seats_were_lowered_is_refused(team, allowance):
    invitation = InvitationFactory(organization=team.org, email="late@example.com")
    allowance({Limit.SEATS: 4})  # a downgrade after the invitation went out: 4 members + 1 pending > 4
    with pytest.raises(LimitExceeded):
        invitation_accept(token=invitation_token(invitation), user=UserFactory(email="late@example.com"))
    assert Membership.objects.for_org(team.org).count() == 4


def test_a_limit_refusal_over_the_api_is_a_409_naming_the_limit(team, allowance):
    from accounts.tests.api_helpers import reauthenticated_client

    allowance({Limit.API_KEYS_PER_MEMBER: 0})
    response = reauthenticated_client(team.owner).post(
        f"/api/v1/orgs/{team.org.slug}/api-keys/", {"name": "k", "scopes": ["read"]}, content_type="application/json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "limit_exceeded"
    assert "API keys" in response.json()["detail"]
