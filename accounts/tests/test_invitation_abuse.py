"""Abuse of invitations and sign-up: invitation-only sign-up needs a valid invitation and its own
address, a closed deployment never hands out organizations, invitation mail is capped per
organization and per recipient, and an invitation's status is settled under its row lock."""

from __future__ import annotations

import re
import threading

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import Invitation, Membership, Organization, User
from accounts.roles import Role
from accounts.services import (
    InvitationInvalid,
    invitation_accept,
    invitation_create,
    invitation_resend,
    invitation_token,
)
from accounts.tests.factories import InvitationFactory, MembershipFactory, UserFactory
from asterweb.errors import RateLimited

SIGNUP_PASSWORD = "Plum-Orbit-7391-quartz"


def _link_path(message) -> str:
    match = re.search(r"https?://[^/\s]+(/invitations/[^/\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def _sign_up(client: Client, email: str):
    return client.post(
        reverse("account_signup"), {"email": email, "password1": SIGNUP_PASSWORD, "password2": SIGNUP_PASSWORD}
    )


@pytest.fixture
def invite(team, django_capture_on_commit_callbacks):
    """Invite ``email`` as the team's admin; returns the emailed link's path."""

    def send(email: str) -> str:
        with django_capture_on_commit_callbacks(execute=True):
            invitation_create(
                organization=team.org, actor_membership=team.membership(Role.ADMIN), email=email, role=Role.TRADER
            )
        return _link_path(mail.outbox[-1])

    return send


# --- invitation-only sign-up ------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(SIGNUP_OPEN=False)
def test_closed_sign_up_refuses_another_address_than_the_invited_one(team, invite):
    link = invite("invited@example.com")
    client = Client()
    client.get(link)
    response = _sign_up(client, "intruder@example.com")
    assert response.status_code == 200
    assert "sign up with that address" in str(response.context["form"].errors["email"])
    assert not User.objects.filter(email="intruder@example.com").exists()
    assert Organization.objects.count() == 1  # the team's only


@pytest.mark.django_db
@override_settings(SIGNUP_OPEN=False)
def test_closed_sign_up_is_not_opened_by_a_revoked_invitation_link(team, invite):
    link = invite("invited@example.com")
    Invitation.objects.for_org(team.org).filter(email="invited@example.com").update(status=Invitation.Status.REVOKED)
    client = Client()
    client.get(link)
    response = _sign_up(client, "invited@example.com")
    assert response.status_code == 200
    assert "account/signup_closed.html" in [template.name for template in response.templates]
    assert not User.objects.filter(email="invited@example.com").exists()


@pytest.mark.django_db
@override_settings(SIGNUP_OPEN=False)
def test_closed_sign_up_with_the_invited_address_joins_and_creates_no_organization(team, invite):
    link = invite("invited@example.com")
    client = Client()
    client.get(link)
    assert _sign_up(client, "invited@example.com").status_code == 302
    user = User.objects.get(email="invited@example.com")
    assert [m.organization for m in Membership.objects.for_user(user)] == [team.org]
    assert Organization.objects.count() == 1


@pytest.mark.django_db
@override_settings(SIGNUP_OPEN=False)
def test_closed_sign_up_never_creates_an_organization_when_the_invitation_goes_stale_meanwhile(team):
    from accounts.signals import on_user_signed_up

    invitation = InvitationFactory(organization=team.org, email="late@example.com")
    token = invitation_token(invitation)
    Invitation.objects.for_org(team.org).filter(pk=invitation.pk).update(status=Invitation.Status.REVOKED)
    user = UserFactory(email="late@example.com")
    request = type("Request", (), {"session": {"invitation_token": token}})()
    on_user_signed_up(sender=None, request=request, user=user)
    assert not Membership.objects.for_user(user).exists()


# --- invitation mail is rate-limited ------------------------------------------------------------


@pytest.mark.django_db
@override_settings(INVITATIONS_PER_RECIPIENT_PER_DAY=3, INVITATIONS_PER_ORGANIZATION_PER_DAY=100)
def test_resending_an_invitation_is_capped_per_recipient_per_day(team):
    admin = team.membership(Role.ADMIN)
    invitation = invitation_create(organization=team.org, actor_membership=admin, email="x@example.com", role="viewer")
    invitation_resend(organization=team.org, actor_membership=admin, invitation=invitation)
    invitation_resend(organization=team.org, actor_membership=admin, invitation=invitation)  # the 3rd mail
    with pytest.raises(RateLimited) as refused:
        invitation_resend(organization=team.org, actor_membership=admin, invitation=invitation)
    assert 0 < refused.value.retry_after <= 86400


@pytest.mark.django_db
@override_settings(INVITATIONS_PER_RECIPIENT_PER_DAY=2, INVITATIONS_PER_ORGANIZATION_PER_DAY=100)
def test_the_recipient_cap_counts_invitations_from_every_organization(team, other_team):
    invitation_create(
        organization=team.org, actor_membership=team.membership(Role.ADMIN), email="v@example.com", role="viewer"
    )
    invitation_create(
        organization=other_team.org,
        actor_membership=other_team.membership(Role.ADMIN),
        email="V@example.com",
        role="viewer",
    )
    third_admin = MembershipFactory(role=Role.ADMIN)
    with pytest.raises(RateLimited):
        invitation_create(
            organization=third_admin.organization, actor_membership=third_admin, email="v@example.com", role="viewer"
        )


@pytest.mark.django_db
@override_settings(INVITATIONS_PER_ORGANIZATION_PER_DAY=3, INVITATIONS_PER_RECIPIENT_PER_DAY=100)
def test_an_organization_sends_a_capped_number_of_invitations_per_day_and_the_api_says_429(team, client_for):
    admin = team.membership(Role.ADMIN)
    for n in range(3):
        invitation_create(organization=team.org, actor_membership=admin, email=f"p{n}@example.com", role="viewer")
    response = client_for(team.admin).post(
        reverse("invitation-list", kwargs={"org_slug": team.org.slug}),
        {"email": "p4@example.com", "role": "viewer"},
        content_type="application/json",
    )
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert int(response["Retry-After"]) > 0
    assert not Invitation.objects.for_org(team.org).filter(email="p4@example.com").exists()


# --- the status is read under the row lock ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_acceptance_waiting_for_a_concurrent_revoke_sees_the_revoke(team):
    invitee = UserFactory(email="racer@example.com")
    invitation = InvitationFactory(organization=team.org, email="racer@example.com")
    token = invitation_token(invitation)
    locked, revoked = threading.Event(), threading.Event()
    outcome: dict = {}

    def revoker() -> None:
        try:
            with transaction.atomic():
                Invitation.objects.for_org(team.org).select_for_update().get(pk=invitation.pk)
                locked.set()
                _wait_until_someone_waits_for_a_lock()
                Invitation.objects.for_org(team.org).filter(pk=invitation.pk).update(status=Invitation.Status.REVOKED)
            revoked.set()
        finally:
            connection.close()

    def accepter() -> None:
        locked.wait(10)
        try:
            invitation_accept(token=token, user=invitee)
            outcome["result"] = "accepted"
        except InvitationInvalid:
            outcome["result"] = "refused"
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["result"] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=revoker), threading.Thread(target=accepter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert revoked.is_set()
    assert outcome == {"result": "refused"}
    assert Invitation.objects.for_org(team.org).get(pk=invitation.pk).status == Invitation.Status.REVOKED
    assert not Membership.objects.for_org(team.org).filter(user=invitee).exists()


def _wait_until_someone_waits_for_a_lock(timeout_polls: int = 400) -> None:
    """Poll pg_stat_activity (from another connection) until a backend of this database waits on a lock."""
    from django.db import connections

    probe = connections.create_connection("default")
    try:
        for _ in range(timeout_polls):
            with probe.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
                if cursor.fetchone()[0]:
                    return
            threading.Event().wait(0.01)
        raise AssertionError("nobody waited for the lock")
    finally:
        probe.close()
