"""Inviting people into an organization: the emailed link, accepting, declining, expiry,
revocation, resending, who may invite whom, and signing up from an invitation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user
from django.core import mail, signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Invitation, Membership, User
from accounts.roles import Role
from accounts.services import invitation_create
from accounts.tests.factories import UserFactory
from asterweb.errors import ConflictError, PermissionDeniedError

pytestmark = pytest.mark.django_db

SIGNUP_PASSWORD = "Plum-Orbit-7391-quartz"


@pytest.fixture
def send_invitation(team, client_for, django_capture_on_commit_callbacks):
    """POST the members page's invite form as ``inviter``; emails go out when the request commits."""

    def send(email: str, role: str = Role.TRADER, *, inviter=None):
        with django_capture_on_commit_callbacks(execute=True):
            return client_for(inviter or team.admin).post(
                reverse("invitation_create", args=[team.org.slug]), {"email": email, "role": role}
            )

    return send


def _link_path(message) -> str:
    match = re.search(r"https?://[^/\s]+(/invitations/[^/\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def _invitation(team, email: str) -> Invitation:
    return Invitation.objects.for_org(team.org).get(email=email)


def _accept_path(link: str) -> str:
    return link + "accept/"


def _decline_path(link: str) -> str:
    return link + "decline/"


def _is_member(team, user) -> bool:
    return Membership.objects.for_org(team.org).filter(user=user).exists()


# --- sending ----------------------------------------------------------------------------------


def test_an_admin_invites_someone_and_they_get_an_email_with_a_link(team, send_invitation):
    response = send_invitation("newcomer@example.com", Role.TRADER)
    assert response.status_code == 302
    invitation = _invitation(team, "newcomer@example.com")
    assert (invitation.role, invitation.status, invitation.invited_by) == (Role.TRADER, "pending", team.admin)
    (message,) = mail.outbox
    assert message.to == ["newcomer@example.com"]
    assert team.org.name in message.subject
    assert Client().get(_link_path(message)).status_code == 200
    event = AuditEvent.objects.for_org(team.org).get(action="invitation.created")
    assert event.actor_user_id == team.admin.pk
    assert event.details == {"email": "newcomer@example.com", "role": "trader"}


def test_inviting_an_existing_member_is_a_form_error_and_stores_nothing(team, send_invitation):
    response = send_invitation(team.viewer.email.upper())
    assert response.status_code == 400
    assert "email" in response.context["invitation_form"].errors
    assert "already a member" in response.content.decode().lower()
    assert not Invitation.objects.for_org(team.org).exists()
    assert mail.outbox == []


def test_inviting_the_same_address_twice_is_a_form_error_and_keeps_one_invitation(team, send_invitation):
    send_invitation("newcomer@example.com")
    mail.outbox.clear()
    response = send_invitation("Newcomer@Example.com", Role.ADMIN)
    assert response.status_code == 400
    assert "already invited" in response.content.decode().lower()
    assert Invitation.objects.for_org(team.org).count() == 1
    assert _invitation(team, "newcomer@example.com").role == Role.TRADER
    assert mail.outbox == []


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER])
def test_members_below_admin_cannot_invite(team, send_invitation, role):
    response = send_invitation("newcomer@example.com", Role.VIEWER, inviter=team.user(role))
    assert response.status_code == 403
    assert not Invitation.objects.for_org(team.org).exists()
    assert mail.outbox == []


def test_an_admin_cannot_invite_an_owner(team, send_invitation):
    response = send_invitation("newcomer@example.com", Role.OWNER, inviter=team.admin)
    assert response.status_code == 403
    assert not Invitation.objects.for_org(team.org).exists()
    assert mail.outbox == []


def test_an_owner_can_invite_an_owner(team, send_invitation):
    response = send_invitation("newcomer@example.com", Role.OWNER, inviter=team.owner)
    assert response.status_code == 302
    assert _invitation(team, "newcomer@example.com").role == Role.OWNER
    assert len(mail.outbox) == 1


def test_the_service_refuses_the_same_things_the_form_does(team):
    with pytest.raises(PermissionDeniedError):
        invitation_create(
            organization=team.org,
            actor_membership=team.membership(Role.TRADER),
            email="a@example.com",
            role=Role.VIEWER,
        )
    with pytest.raises(PermissionDeniedError):
        invitation_create(
            organization=team.org,
            actor_membership=team.membership(Role.ADMIN),
            email="a@example.com",
            role=Role.OWNER,
        )
    with pytest.raises(ConflictError):
        invitation_create(
            organization=team.org,
            actor_membership=team.membership(Role.ADMIN),
            email=team.trader.email,
            role=Role.VIEWER,
        )
    assert not Invitation.objects.for_org(team.org).exists()


# --- accepting and declining ------------------------------------------------------------------------


def test_an_existing_user_opens_the_link_and_accepts_with_the_invited_role(team, outsider, send_invitation, client_for):
    send_invitation(outsider.email, Role.TRADER)
    link = _link_path(mail.outbox[0])
    client = client_for(outsider)
    page = client.get(link)
    assert page.status_code == 200
    assert team.org.name in page.content.decode()
    response = client.post(_accept_path(link))
    assert response.status_code == 302
    assert response["Location"] == reverse("org_dashboard", args=[team.org.slug])
    membership = Membership.objects.for_org(team.org).get(user=outsider)
    assert membership.role == Role.TRADER
    assert _invitation(team, outsider.email).status == Invitation.Status.ACCEPTED
    assert client.get(reverse("org_dashboard", args=[team.org.slug])).status_code == 200


def test_an_accepted_link_cannot_be_used_again(team, outsider, send_invitation, client_for):
    send_invitation(outsider.email)
    link = _link_path(mail.outbox[0])
    client_for(outsider).post(_accept_path(link))
    again = client_for(outsider).get(link)
    assert again.status_code == 404
    assert "already accepted" in again.content.decode()


def test_declining_works_signed_out_and_adds_no_member(team, outsider, send_invitation):
    send_invitation(outsider.email)
    link = _link_path(mail.outbox[0])
    response = Client().post(_decline_path(link))
    assert response.status_code == 302
    assert _invitation(team, outsider.email).status == Invitation.Status.DECLINED
    assert not _is_member(team, outsider)
    event = AuditEvent.objects.for_org(team.org).get(action="invitation.declined")
    assert event.actor_user_id is None
    assert event.actor_label == outsider.email
    # The link is spent: accepting afterwards does nothing.
    assert Client().get(link).status_code == 404


def test_a_user_whose_verified_email_differs_cannot_accept(team, outsider, send_invitation, client_for):
    send_invitation("someone-else@example.com")
    link = _link_path(mail.outbox[0])
    client = client_for(outsider)
    response = client.post(_accept_path(link), follow=True)
    assert "Sign in with that address" in response.content.decode()
    assert "someone-else@example.com" in response.content.decode()
    assert not _is_member(team, outsider)
    assert _invitation(team, "someone-else@example.com").status == Invitation.Status.PENDING


def test_a_user_with_the_invited_address_unverified_cannot_accept(team, send_invitation, client_for):
    unverified = UserFactory(email="newcomer@example.com", verified=False)
    send_invitation("newcomer@example.com")
    client_for(unverified).post(_accept_path(_link_path(mail.outbox[0])))
    assert not _is_member(team, unverified)
    assert _invitation(team, "newcomer@example.com").status == Invitation.Status.PENDING


def test_accepting_needs_a_signed_in_user(team, outsider, send_invitation):
    send_invitation(outsider.email)
    response = Client().post(_accept_path(_link_path(mail.outbox[0])))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not _is_member(team, outsider)


# --- links that no longer work ------------------------------------------------------------------------


def _assert_dead_link(client: Client, link: str, reason: str) -> None:
    for response in (client.get(link), client.post(_accept_path(link)), client.post(_decline_path(link))):
        assert response.status_code == 404
        assert reason in response.content.decode()


def test_an_expired_invitation_is_a_404_with_the_reason(team, outsider, send_invitation, client_for):
    send_invitation(outsider.email)
    Invitation.objects.for_org(team.org).filter(email=outsider.email).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    _assert_dead_link(client_for(outsider), _link_path(mail.outbox[0]), "expired")
    assert not _is_member(team, outsider)
    assert _invitation(team, outsider.email).status == Invitation.Status.PENDING


def test_a_revoked_invitation_is_a_404(team, outsider, send_invitation, client_for):
    send_invitation(outsider.email)
    invitation = _invitation(team, outsider.email)
    response = client_for(team.admin).post(reverse("invitation_revoke", args=[team.org.slug, invitation.pk]))
    assert response.status_code == 302
    _assert_dead_link(client_for(outsider), _link_path(mail.outbox[0]), "revoked")
    assert not _is_member(team, outsider)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature no longer matches
        lambda token: "x" + token,
        lambda token: "not-a-token",
    ],
)
def test_a_forged_or_tampered_token_is_a_404(team, outsider, send_invitation, client_for, tamper):
    send_invitation(outsider.email)
    token = _link_path(mail.outbox[0]).rstrip("/").rsplit("/", 1)[1]
    _assert_dead_link(client_for(outsider), reverse("invitation_detail", args=[tamper(token)]), "not valid")
    assert not _is_member(team, outsider)


def test_a_token_for_another_invitation_id_is_a_404(team, outsider, send_invitation, client_for):
    """The token is signed, so changing the invitation id in it is detected."""
    send_invitation(outsider.email)
    send_invitation("second@example.com")
    first, second = _invitation(team, outsider.email), _invitation(team, "second@example.com")
    forged = signing.dumps({"i": second.pk, "n": first.nonce}, salt="accounts.invitation", compress=False)
    _assert_dead_link(client_for(outsider), reverse("invitation_detail", args=[forged]), "no longer valid")


def test_resending_invalidates_the_old_link(
    team, outsider, send_invitation, client_for, django_capture_on_commit_callbacks
):
    send_invitation(outsider.email)
    old_link = _link_path(mail.outbox[0])
    invitation = _invitation(team, outsider.email)
    Invitation.objects.for_org(team.org).filter(pk=invitation.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(team.admin).post(reverse("invitation_resend", args=[team.org.slug, invitation.pk]))
    assert response.status_code == 302
    assert len(mail.outbox) == 2
    new_link = _link_path(mail.outbox[1])
    assert new_link != old_link
    client = client_for(outsider)
    assert client.get(old_link).status_code == 404
    # The new link is valid for the full period again.
    assert _invitation(team, outsider.email).expires_at > timezone.now() + timedelta(days=6)
    assert client.post(_accept_path(new_link)).status_code == 302
    assert _is_member(team, outsider)


def test_invitations_of_a_deleted_organization_stop_working(team, outsider, send_invitation, client_for):
    send_invitation(outsider.email)
    team.org.deleted_at = timezone.now()
    team.org.save(update_fields=["deleted_at"])
    _assert_dead_link(client_for(outsider), _link_path(mail.outbox[0]), "no longer exists")
    assert not _is_member(team, outsider)


# --- signing up from an invitation ---------------------------------------------------------------------


def _sign_up_from_link(client: Client, link: str, email: str):
    assert client.get(link).status_code == 200
    return client.post(
        reverse("account_signup"), {"email": email, "password1": SIGNUP_PASSWORD, "password2": SIGNUP_PASSWORD}
    )


def test_signing_up_from_an_invitation_joins_that_organization_without_a_verification_step(team, send_invitation):
    send_invitation("newcomer@example.com", Role.TRADER)
    link = _link_path(mail.outbox[0])
    mail.outbox.clear()
    client = Client()
    response = _sign_up_from_link(client, link, "newcomer@example.com")
    assert response.status_code == 302
    user = User.objects.get(email="newcomer@example.com")
    assert get_user(client) == user
    assert mail.outbox == []  # no "confirm your email" message: the link proved it
    (membership,) = Membership.objects.for_user(user)
    assert (membership.organization, membership.role) == (team.org, Role.TRADER)
    assert _invitation(team, "newcomer@example.com").status == Invitation.Status.ACCEPTED
    assert client.get(reverse("app_home"))["Location"] == reverse("org_dashboard", args=[team.org.slug])


def test_signing_up_from_an_invitation_with_another_email_gets_an_own_organization(team, send_invitation):
    send_invitation("newcomer@example.com", Role.TRADER)
    link = _link_path(mail.outbox[0])
    mail.outbox.clear()
    client = Client()
    response = _sign_up_from_link(client, link, "different@example.com")
    assert _invitation(team, "newcomer@example.com").status == Invitation.Status.PENDING
    # The account is the address they typed, and nothing else was verified for them.
    assert list(
        User.objects.filter(email__in=["newcomer@example.com", "different@example.com"]).values_list("email", flat=True)
    ) == ["different@example.com"]
    user = User.objects.get(email="different@example.com")
    assert list(EmailAddress.objects.filter(user=user).values_list("email", "verified")) == [
        ("different@example.com", False)
    ]
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert not get_user(client).is_authenticated  # they must verify their own address first
    assert [m.to for m in mail.outbox] == [["different@example.com"]]
    (membership,) = Membership.objects.for_user(user)
    assert membership.organization != team.org
    assert membership.role == Role.OWNER
    assert _invitation(team, "newcomer@example.com").status == Invitation.Status.PENDING
