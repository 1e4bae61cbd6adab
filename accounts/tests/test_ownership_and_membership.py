"""Who belongs to an organization: transferring ownership, the last-owner rules, changing
roles, removing members, deleting (and purging) an organization and deleting an account."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Invitation, Membership, Organization, User
from accounts.roles import Role
from accounts.services import (
    membership_leave,
    organization_create,
    organization_delete,
    ownership_transfer,
    user_delete,
)
from accounts.tasks import organizations_purge_due
from accounts.tests.factories import PASSWORD, InvitationFactory, MembershipFactory
from asterweb.errors import ConflictError, PermissionDeniedError

pytestmark = pytest.mark.django_db


def _url(team, name: str, *args) -> str:
    return reverse(name, args=[team.org.slug, *args])


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _roles(team) -> dict[str, str]:
    return dict(Membership.objects.for_org(team.org).values_list("user__email", "role"))


def _post_after_reauthentication(client: Client, url: str, data: dict, password: str = PASSWORD):
    """POST a sensitive form: the first POST only asks for the password again (changing nothing);
    once confirmed, the person is back on the page and submits again. With a wrong password the
    last response is the reauthentication form again."""
    first = client.post(url, data)
    assert first.status_code == 302
    assert first["Location"] == f"{reverse('account_reauthenticate')}?{urlencode({'next': url})}"
    confirmed = client.post(first["Location"], {"password": password})
    if confirmed.status_code != 302:
        return first, confirmed
    assert confirmed["Location"] == url
    return first, client.post(url, data)


def _reauthenticated_client(client_for, user) -> Client:
    """A signed-in client that has just confirmed its password on allauth's reauthenticate page."""
    client = client_for(user)
    response = client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    assert response.status_code == 302
    return client


# --- transferring ownership -------------------------------------------------------------------------


def test_transferring_ownership_asks_for_the_password_first_then_completes(team, client_for):
    client = client_for(team.owner)
    new_owner = team.membership(Role.TRADER)
    _first, response = _post_after_reauthentication(client, _url(team, "org_transfer"), {"member": new_owner.pk})
    assert response.status_code == 302
    assert response["Location"] == _url(team, "org_members")
    assert _roles(team)[team.trader.email] == Role.OWNER
    assert _roles(team)[team.owner.email] == Role.ADMIN


def test_an_owner_who_just_confirmed_their_password_transfers_ownership(team, client_for):
    client = _reauthenticated_client(client_for, team.owner)
    new_owner = team.membership(Role.TRADER)
    response = client.post(_url(team, "org_transfer"), {"member": new_owner.pk})
    assert response.status_code == 302
    assert response["Location"] == _url(team, "org_members")
    assert _roles(team) == {
        team.owner.email: Role.ADMIN,
        team.admin.email: Role.ADMIN,
        team.trader.email: Role.OWNER,
        team.viewer.email: Role.VIEWER,
    }
    event = AuditEvent.objects.for_org(team.org).get(action="organization.ownership_transferred")
    assert event.actor_user_id == team.owner.pk
    assert (event.target_type, event.target_id) == ("accounts.membership", str(new_owner.pk))
    assert event.details["to"] == team.trader.email
    assert event.details["previous_role_of_new_owner"] == Role.TRADER


def test_nothing_is_transferred_before_the_password_is_given(team, client_for):
    before = _roles(team)
    client_for(team.owner).post(_url(team, "org_transfer"), {"member": team.membership(Role.ADMIN).pk})
    assert _roles(team) == before


def test_a_wrong_password_at_reauthentication_transfers_nothing(team, client_for):
    before = _roles(team)
    _first, response = _post_after_reauthentication(
        client_for(team.owner),
        _url(team, "org_transfer"),
        {"member": team.membership(Role.ADMIN).pk},
        password="not-the-password",
    )
    assert response.status_code == 200
    assert _roles(team) == before
    assert not AuditEvent.objects.for_org(team.org).filter(action="organization.ownership_transferred").exists()


def test_of_two_concurrent_transfers_by_the_sole_owner_only_the_first_happens(team):
    # Two requests of the owner, each holding the owner's membership as read before either ran
    # (what two browser tabs submitting at once see): the second must not make a second owner.
    first_request, second_request = team.membership(Role.OWNER), team.membership(Role.OWNER)
    ownership_transfer(organization=team.org, actor_membership=first_request, new_owner=team.membership(Role.ADMIN))
    with pytest.raises(PermissionDeniedError):
        ownership_transfer(
            organization=team.org, actor_membership=second_request, new_owner=team.membership(Role.TRADER)
        )
    assert _roles(team) == {
        team.owner.email: Role.ADMIN,
        team.admin.email: Role.OWNER,
        team.trader.email: Role.TRADER,
        team.viewer.email: Role.VIEWER,
    }


@pytest.mark.parametrize("role", [Role.ADMIN, Role.TRADER, Role.VIEWER])
def test_only_an_owner_can_transfer_ownership(team, client_for, role):
    before = _roles(team)
    response = client_for(team.user(role)).post(_url(team, "org_transfer"), {"member": team.membership(role).pk})
    assert response.status_code == 403
    assert _roles(team) == before


def test_ownership_cannot_go_to_someone_outside_the_organization(team, other_team, client_for):
    client = _reauthenticated_client(client_for, team.owner)
    before = _roles(team)
    foreign = other_team.membership(Role.ADMIN)
    response = client.post(_url(team, "org_transfer"), {"member": foreign.pk})
    assert response.status_code == 200
    assert "member" in response.context["form"].errors
    assert _roles(team) == before
    assert Membership.objects.for_org(other_team.org).get(pk=foreign.pk).role == Role.ADMIN


# --- the last owner -----------------------------------------------------------------------------------


def test_the_last_owner_cannot_leave(team, client_for):
    before = _roles(team)
    response = client_for(team.owner).post(_url(team, "org_leave"))
    assert response.status_code == 200
    assert any("last owner" in m for m in _messages(response))
    assert _roles(team) == before


def test_the_last_owner_cannot_demote_themselves(team, client_for):
    before = _roles(team)
    response = client_for(team.owner).post(
        _url(team, "member_role", team.membership(Role.OWNER).pk), {"role": Role.ADMIN}
    )
    assert response.status_code == 302
    assert any("needs an owner" in m for m in _messages(response))
    assert _roles(team) == before


def test_the_last_owner_cannot_be_removed_or_demoted_by_an_admin(team, client_for):
    before = _roles(team)
    owner_membership = team.membership(Role.OWNER)
    client = client_for(team.admin)
    removed = client.post(_url(team, "member_remove", owner_membership.pk))
    demoted = client.post(_url(team, "member_role", owner_membership.pk), {"role": Role.VIEWER})
    assert any("owner" in m.lower() for m in _messages(removed))
    assert any("owner" in m.lower() for m in _messages(demoted))
    assert _roles(team) == before


def test_the_last_owner_cannot_remove_themselves(team, client_for):
    before = _roles(team)
    response = client_for(team.owner).post(_url(team, "member_remove", team.membership(Role.OWNER).pk))
    assert any("Leave organization" in m for m in _messages(response))
    assert _roles(team) == before


def test_the_service_refuses_the_last_owner_leaving(team):
    with pytest.raises(ConflictError) as refused:
        membership_leave(organization=team.org, membership=team.membership(Role.OWNER))
    assert refused.value.code == "last_owner"
    assert Membership.objects.for_org(team.org).filter(user=team.owner, role=Role.OWNER).exists()


def test_with_two_owners_one_may_leave(team, client_for):
    second_owner = MembershipFactory(organization=team.org, role=Role.OWNER).user
    response = client_for(team.owner).post(_url(team, "org_leave"))
    assert response.status_code == 302
    assert not Membership.objects.for_org(team.org).filter(user=team.owner).exists()
    assert list(Membership.objects.for_org(team.org).filter(role=Role.OWNER).values_list("user", flat=True)) == [
        second_owner.pk
    ]
    assert client_for(team.owner).get(_url(team, "org_dashboard")).status_code == 404
    event = AuditEvent.objects.for_org(team.org).get(action="membership.left")
    assert event.actor_user_id == team.owner.pk


def test_with_two_owners_one_owner_may_demote_the_other(team, client_for):
    second = MembershipFactory(organization=team.org, role=Role.OWNER)
    client_for(team.owner).post(_url(team, "member_role", second.pk), {"role": Role.ADMIN})
    second.refresh_from_db()
    assert second.role == Role.ADMIN


# --- changing roles --------------------------------------------------------------------------------------


def test_an_admin_can_make_a_trader_a_viewer(team, client_for):
    trader = team.membership(Role.TRADER)
    response = client_for(team.admin).post(_url(team, "member_role", trader.pk), {"role": Role.VIEWER})
    assert response.status_code == 302
    trader.refresh_from_db()
    assert trader.role == Role.VIEWER
    event = AuditEvent.objects.for_org(team.org).get(action="membership.role_changed")
    assert event.actor_user_id == team.admin.pk
    assert event.details == {"from": "trader", "to": "viewer"}


def test_an_admin_cannot_make_anyone_an_owner(team, client_for):
    before = _roles(team)
    response = client_for(team.admin).post(
        _url(team, "member_role", team.membership(Role.TRADER).pk), {"role": Role.OWNER}
    )
    assert any("Only an owner" in m for m in _messages(response))
    assert _roles(team) == before
    assert not AuditEvent.objects.for_org(team.org).filter(action="membership.role_changed").exists()


def test_an_admin_cannot_change_an_owners_role_even_when_another_owner_remains(team, client_for):
    MembershipFactory(organization=team.org, role=Role.OWNER)
    before = _roles(team)
    response = client_for(team.admin).post(
        _url(team, "member_role", team.membership(Role.OWNER).pk), {"role": Role.ADMIN}
    )
    assert any("Only an owner" in m for m in _messages(response))
    assert _roles(team) == before


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER])
def test_members_below_admin_cannot_change_roles(team, client_for, role):
    before = _roles(team)
    response = client_for(team.user(role)).post(
        _url(team, "member_role", team.membership(Role.VIEWER).pk), {"role": Role.ADMIN}
    )
    assert response.status_code == 403
    assert _roles(team) == before


def test_an_invalid_role_changes_nothing(team, client_for):
    before = _roles(team)
    client_for(team.owner).post(_url(team, "member_role", team.membership(Role.TRADER).pk), {"role": "emperor"})
    assert _roles(team) == before


def test_a_member_of_another_organization_is_a_404(team, other_team, client_for):
    foreign = other_team.membership(Role.TRADER)
    response = client_for(team.owner).post(_url(team, "member_role", foreign.pk), {"role": Role.VIEWER})
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.role == Role.TRADER


# --- removing members ----------------------------------------------------------------------------------


def test_removing_a_member_deletes_the_membership_and_audits_it(team, client_for):
    trader = team.membership(Role.TRADER)
    team.trader.default_organization = team.org
    team.trader.save(update_fields=["default_organization"])
    response = client_for(team.admin).post(_url(team, "member_remove", trader.pk))
    assert response.status_code == 302
    assert not Membership.objects.for_org(team.org).filter(user=team.trader).exists()
    team.trader.refresh_from_db()
    assert team.trader.default_organization is None
    event = AuditEvent.objects.for_org(team.org).get(action="membership.removed")
    assert event.actor_user_id == team.admin.pk
    assert event.target_label == team.trader.email
    assert event.details == {"role": "trader"}
    assert client_for(team.trader).get(_url(team, "org_dashboard")).status_code == 404


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER])
def test_members_below_admin_cannot_remove_anyone(team, client_for, role):
    before = _roles(team)
    response = client_for(team.user(role)).post(_url(team, "member_remove", team.membership(Role.VIEWER).pk))
    assert response.status_code == 403
    assert _roles(team) == before


# --- deleting an organization -----------------------------------------------------------------------------


def test_deleting_an_organization_asks_for_the_password_first_then_completes(team, client_for):
    _first, response = _post_after_reauthentication(
        client_for(team.owner), _url(team, "org_delete"), {"confirm": team.org.slug}
    )
    assert response.status_code == 302
    team.org.refresh_from_db()
    assert team.org.deleted_at is not None


def test_deleting_an_organization_with_the_typed_address_hides_it_and_schedules_the_purge(team, client_for):
    client = _reauthenticated_client(client_for, team.owner)
    before = timezone.now()
    response = client.post(_url(team, "org_delete"), {"confirm": team.org.slug})
    assert response.status_code == 302
    team.org.refresh_from_db()
    assert team.org.deleted_at is not None
    assert before + timedelta(days=30) <= team.org.purge_after <= timezone.now() + timedelta(days=30)
    event = AuditEvent.objects.for_org(team.org).get(action="organization.deleted")
    assert event.actor_user_id == team.owner.pk
    for role in Role.values:
        assert client_for(team.user(role)).get(_url(team, "org_dashboard")).status_code == 404


def test_a_wrong_typed_address_is_a_form_error_and_deletes_nothing(team, client_for):
    client = _reauthenticated_client(client_for, team.owner)
    response = client.post(_url(team, "org_delete"), {"confirm": team.org.slug + "-nope"})
    assert response.status_code == 200
    assert "confirm" in response.context["form"].errors
    team.org.refresh_from_db()
    assert (team.org.deleted_at, team.org.purge_after) == (None, None)
    assert not AuditEvent.objects.for_org(team.org).filter(action="organization.deleted").exists()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.TRADER, Role.VIEWER])
def test_only_an_owner_can_delete_an_organization(team, client_for, role):
    response = client_for(team.user(role)).post(_url(team, "org_delete"), {"confirm": team.org.slug})
    assert response.status_code == 403
    team.org.refresh_from_db()
    assert team.org.deleted_at is None


def _delete_org(team) -> None:
    organization_delete(organization=team.org, actor=team.owner, confirm_slug=team.org.slug)


def test_the_purge_job_leaves_an_organization_alone_during_the_grace_period(team, client_for):
    _delete_org(team)
    assert organizations_purge_due.delay().get() == 0
    assert Organization.objects.filter(pk=team.org.pk).exists()
    assert Membership.objects.for_org(team.org).count() == 4


def test_the_purge_job_removes_the_organization_after_the_grace_period_but_keeps_its_audit_log(
    team, other_team, client_for
):
    InvitationFactory(organization=team.org)
    _delete_org(team)
    org_id = team.org.pk
    audit_before = set(AuditEvent.all_objects.filter(organization_id=org_id).values_list("id", flat=True))
    assert audit_before
    Organization.objects.filter(pk=org_id).update(purge_after=timezone.now() - timedelta(seconds=1))

    assert organizations_purge_due.delay().get() == 1
    assert not Organization.objects.filter(pk=org_id).exists()
    assert not Membership.all_objects.filter(organization_id=org_id).exists()
    assert not Invitation.all_objects.filter(organization_id=org_id).exists()
    audit_after = set(AuditEvent.all_objects.filter(organization_id=org_id).values_list("id", flat=True))
    assert audit_before < audit_after
    purged = AuditEvent.all_objects.get(organization_id=org_id, action="organization.purged")
    assert purged.details["slug"] == team.org.slug
    # The people are still there, and so is the other organization.
    assert User.objects.filter(pk=team.owner.pk).exists()
    assert Membership.objects.for_org(other_team.org).count() == 4
    # Running it again does nothing more.
    assert organizations_purge_due.delay().get() == 0


def test_the_purge_job_never_touches_a_live_organization(team):
    Organization.objects.filter(pk=team.org.pk).update(purge_after=timezone.now() - timedelta(days=1))
    assert organizations_purge_due.delay().get() == 0
    assert Organization.objects.filter(pk=team.org.pk).exists()


# --- deleting an account ---------------------------------------------------------------------------------


def test_deleting_an_account_keeps_its_audit_events(team, client_for):
    user = team.trader
    client = client_for(user)
    client.post(_url(team, "org_leave"))  # something to remember them by
    kept = set(AuditEvent.objects.for_user_history(user).values_list("id", flat=True))
    assert kept
    _first, response = _post_after_reauthentication(client, reverse("account_delete"), {"confirm": "DELETE"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=user.pk).exists()
    remaining = set(AuditEvent.all_objects.filter(actor_user_id=user.pk).values_list("id", flat=True))
    assert kept <= remaining
    deleted = AuditEvent.all_objects.get(action="user.deleted", target_id=str(user.pk))
    assert deleted.details == {"email": user.email}


def test_the_last_owner_of_an_organization_with_other_members_cannot_delete_their_account(team, client_for):
    _first, response = _post_after_reauthentication(
        client_for(team.owner), reverse("account_delete"), {"confirm": "DELETE"}
    )
    assert response.status_code == 200
    assert "Transfer ownership first" in response.content.decode()
    assert User.objects.filter(pk=team.owner.pk).exists()
    assert Membership.objects.for_org(team.org).filter(user=team.owner, role=Role.OWNER).exists()


def test_deleting_the_only_member_schedules_their_organization_for_deletion(outsider):
    organization = organization_create(user=outsider, name="Solo")
    user_delete(user=outsider)
    organization.refresh_from_db()
    assert organization.deleted_at is not None
    assert organization.purge_after is not None
    assert not User.objects.filter(pk=outsider.pk).exists()


def test_account_deletion_needs_the_typed_confirmation(outsider, client_for):
    _first, response = _post_after_reauthentication(
        client_for(outsider), reverse("account_delete"), {"confirm": "delete"}
    )
    assert response.status_code == 200
    assert User.objects.filter(pk=outsider.pk).exists()
