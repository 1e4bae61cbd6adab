"""The account endpoints: me, organizations, organization settings, members, invitations and
the audit log (filters and cursor pagination), with each role, a session and a key."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Invitation, Membership
from accounts.roles import Role
from accounts.services import invitation_from_token
from accounts.services.invitations import InvitationInvalid
from accounts.tests.api_helpers import assert_error, issue_key, key_client, membership_of, stored_rows
from accounts.tests.factories import InvitationFactory, MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def url(name: str, org=None, **kwargs) -> str:
    if org is not None:
        kwargs["org_slug"] = org.slug
    return reverse(name, kwargs=kwargs)


def patch(client: Client, path: str, body: dict):
    return client.patch(path, body, content_type="application/json")


def post(client: Client, path: str, body: dict | None = None):
    return client.post(path, body or {}, content_type="application/json")


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def audit(org, action: str):
    return AuditEvent.objects.for_org(org).filter(action=action)


# --- me and organizations -------------------------------------------------------------------


def test_me_with_a_session_lists_every_organization_by_name(team, other_team, client_for):
    MembershipFactory(organization=other_team.org, user=team.trader, role=Role.ADMIN)  # "Bravo"
    body = client_for(team.trader).get(url("me")).json()
    assert body["user"] == {"id": team.trader.pk, "email": team.trader.email, "name": team.trader.name}
    assert body["credential"] == {"kind": "session", "api_key_prefix": None, "organization": None, "scopes": None}
    assert [(m["organization"]["slug"], m["role"]) for m in body["memberships"]] == [
        (team.org.slug, Role.TRADER),
        (other_team.org.slug, Role.ADMIN),  # Alpha before Bravo
    ]


def test_me_with_a_key_shows_only_the_keys_organization(team, other_team):
    MembershipFactory(organization=other_team.org, user=team.trader, role=Role.ADMIN)
    issued = issue_key(team.org, team.trader, scopes=["read"])
    body = key_client(issued).get(url("me")).json()
    assert body["credential"] == {
        "kind": "api_key",
        "api_key_prefix": issued.api_key.prefix,
        "organization": team.org.slug,
        "scopes": ["read"],
    }
    assert [m["organization"]["slug"] for m in body["memberships"]] == [team.org.slug]


def test_me_needs_credentials(db):
    assert_error(Client().get(url("me")), 401, "not_authenticated")


def test_the_organization_list_hides_deleted_organizations_and_other_keys_organizations(team, other_team, client_for):
    third = OrganizationFactory(name="Charlie", deleted_at=timezone.now())
    MembershipFactory(organization=other_team.org, user=team.owner, role=Role.VIEWER)
    MembershipFactory(organization=third, user=team.owner, role=Role.OWNER)
    listed = client_for(team.owner).get(url("organization-list")).json()
    assert [(m["organization"]["name"], m["role"]) for m in listed] == [("Alpha", "owner"), ("Bravo", "viewer")]
    keyed = key_client(issue_key(other_team.org, team.owner)).get(url("organization-list")).json()
    assert [m["organization"]["slug"] for m in keyed] == [other_team.org.slug]


# --- organization detail --------------------------------------------------------------------


@pytest.mark.parametrize(
    "role,scopes", [("viewer", ["read"]), ("trader", ["read", "trade"]), ("admin", ["admin", "read", "trade"])]
)
def test_the_organization_detail_shows_the_callers_role_and_scopes(team, client_for, role, scopes):
    body = client_for(team.user(role)).get(url("organization-detail", team.org)).json()
    assert body == {
        "slug": team.org.slug,
        "name": "Alpha",
        "require_2fa": False,
        "created_at": team.org.created_at.isoformat().replace("+00:00", "Z"),
        "role": role,
        "scopes": scopes,
    }


def test_a_keys_scopes_are_its_own_within_its_owners_role(team):
    client = key_client(issue_key(team.org, team.owner, scopes=["read", "trade"]))
    body = client.get(url("organization-detail", team.org)).json()
    assert body["role"] == "owner" and body["scopes"] == ["read", "trade"]


def test_an_admin_renames_the_organization_and_it_is_audited(team, client_for):
    response = patch(client_for(team.admin), url("organization-detail", team.org), {"name": "  Alpha Capital  "})
    assert response.status_code == 200 and response.json()["name"] == "Alpha Capital"
    team.org.refresh_from_db()
    assert team.org.name == "Alpha Capital" and team.org.require_2fa is False
    event = audit(team.org, "organization.updated").get()
    assert event.actor_user_id == team.admin.pk
    assert event.details == {"name": {"from": "Alpha", "to": "Alpha Capital"}}


def test_an_unchanged_patch_is_not_audited(team, client_for):
    assert patch(client_for(team.owner), url("organization-detail", team.org), {"name": "Alpha"}).status_code == 200
    assert not audit(team.org, "organization.updated").exists()


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_an_invalid_name_is_a_400_on_name_and_changes_nothing(team, client_for, name):
    client = client_for(team.owner)
    before = stored_rows()
    body = assert_error(patch(client, url("organization-detail", team.org), {"name": name}), 400)
    assert list(body["fields"]) == ["name"]
    assert stored_rows() == before


def test_requiring_2fa_locks_out_members_without_it(team, client_for):
    issued = issue_key(team.org, team.viewer)
    response = patch(client_for(team.owner), url("organization-detail", team.org), {"require_2fa": True})
    assert response.status_code == 200 and response.json()["require_2fa"] is True
    assert audit(team.org, "organization.updated").get().details == {"require_2fa": {"from": False, "to": True}}
    assert_error(client_for(team.viewer).get(url("member-list", team.org)), 403, "two_factor_required")
    assert_error(key_client(issued).get(url("member-list", team.org)), 403, "two_factor_required")


# --- members --------------------------------------------------------------------------------


def test_members_are_listed_with_their_users_and_filtered_by_role(team, client_for):
    client = client_for(team.viewer)
    listed = results(client.get(url("member-list", team.org)))
    assert {(m["user"]["email"], m["role"]) for m in listed} == {(team.user(role).email, role) for role in Role.values}
    admins = results(client.get(url("member-list", team.org) + "?role=admin"))
    assert [m["user"]["id"] for m in admins] == [team.admin.pk]
    assert_error(client.get(url("member-list", team.org) + "?role=emperor"), 400)


def test_a_member_is_retrieved_by_id(team, client_for):
    membership = membership_of(team.org, team.trader)
    body = client_for(team.viewer).get(url("member-detail", team.org, pk=membership.pk)).json()
    assert body["id"] == membership.pk and body["role"] == "trader" and body["user"]["id"] == team.trader.pk


def test_members_listed_in_user_order_page_without_a_server_error(team):
    """Every `ordering` the list accepts must also work with its cursor (the next page)."""
    client = Client(raise_request_exception=False)
    client.force_login(team.owner)
    first = client.get(url("member-list", team.org) + "?ordering=user&page_size=2")
    assert first.status_code == 200
    second = client.get(first.json()["next"])
    assert second.status_code == 200, (second.status_code, second.content[:200])
    ids = [m["id"] for m in first.json()["results"] + second.json()["results"]]
    assert sorted(ids) == sorted(membership_of(team.org, team.user(role)).pk for role in Role.values)


def test_an_admin_changes_a_role_and_it_is_audited(team, client_for):
    membership = membership_of(team.org, team.trader)
    response = patch(client_for(team.admin), url("member-detail", team.org, pk=membership.pk), {"role": "viewer"})
    assert response.status_code == 200 and response.json()["role"] == "viewer"
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER
    assert audit(team.org, "membership.role_changed").get().details == {"from": "trader", "to": "viewer"}


def test_an_admin_cannot_touch_an_owner(team, client_for):
    client = client_for(team.admin)
    owner = membership_of(team.org, team.owner)
    trader = membership_of(team.org, team.trader)
    before = stored_rows()
    assert_error(patch(client, url("member-detail", team.org, pk=owner.pk), {"role": "viewer"}), 403)
    assert_error(client.delete(url("member-detail", team.org, pk=owner.pk)), 403)
    assert_error(patch(client, url("member-detail", team.org, pk=trader.pk), {"role": "owner"}), 403)
    assert stored_rows() == before


def test_the_last_owner_cannot_be_demoted_but_one_of_two_can(team, client_for):
    client = client_for(team.owner)
    owner = membership_of(team.org, team.owner)
    assert_error(patch(client, url("member-detail", team.org, pk=owner.pk), {"role": "admin"}), 409, "last_owner")
    assert membership_of(team.org, team.owner).role == Role.OWNER

    admin = membership_of(team.org, team.admin)
    promoted = patch(client, url("member-detail", team.org, pk=admin.pk), {"role": "owner"})
    assert promoted.status_code == 200
    assert patch(client, url("member-detail", team.org, pk=owner.pk), {"role": "admin"}).status_code == 200


def test_an_admin_removes_a_member(team, client_for):
    membership = membership_of(team.org, team.trader)
    assert client_for(team.admin).delete(url("member-detail", team.org, pk=membership.pk)).status_code == 204
    assert not Membership.objects.for_org(team.org).filter(pk=membership.pk).exists()
    assert audit(team.org, "membership.removed").get().target_id == str(membership.pk)
    assert client_for(team.trader).get(url("organization-detail", team.org)).status_code == 404


def test_a_member_cannot_remove_themselves_through_the_members_endpoint(team, client_for):
    membership = membership_of(team.org, team.admin)
    client = client_for(team.admin)
    before = stored_rows()
    assert_error(client.delete(url("member-detail", team.org, pk=membership.pk)), 400)
    assert stored_rows() == before


# --- invitations ----------------------------------------------------------------------------


def _token_in(message) -> str:
    match = re.search(r"/invitations/([^/\s]+)/", message.body)
    assert match, message.body
    return match.group(1)


def test_an_admin_invites_by_email_and_the_link_is_mailed(team, client_for, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client_for(team.admin), url("invitation-list", team.org), {"email": "Ana@Example.com"})
    assert response.status_code == 201
    body = response.json()
    assert (body["email"], body["role"], body["status"], body["invited_by"]) == (
        "ana@example.com",
        "viewer",
        "pending",
        team.admin.email,
    )
    assert [m.to for m in mail.outbox] == [["ana@example.com"]]
    invitation = invitation_from_token(_token_in(mail.outbox[0]))
    assert invitation.pk == body["id"]
    assert audit(team.org, "invitation.created").count() == 1


def test_inviting_a_pending_invitee_or_a_member_is_409(team, client_for):
    client = client_for(team.admin)
    InvitationFactory(organization=team.org, email="ana@example.com")
    before = stored_rows()
    assert_error(post(client, url("invitation-list", team.org), {"email": "ana@example.com"}), 409)
    assert_error(post(client, url("invitation-list", team.org), {"email": team.viewer.email.upper()}), 409)
    assert stored_rows() == before
    assert not mail.outbox


def test_only_an_owner_invites_an_owner(team, client_for):
    admin = client_for(team.admin)
    assert_error(post(admin, url("invitation-list", team.org), {"email": "boss@example.com", "role": "owner"}), 403)
    owner = client_for(team.owner)
    response = post(owner, url("invitation-list", team.org), {"email": "boss@example.com", "role": "owner"})
    assert response.status_code == 201


def test_invitations_are_listed_and_filtered_by_status(team, client_for):
    pending = InvitationFactory(organization=team.org)
    revoked = InvitationFactory(organization=team.org, status=Invitation.Status.REVOKED)
    InvitationFactory(organization=OrganizationFactory())  # another organization's
    client = client_for(team.admin)
    assert {i["id"] for i in results(client.get(url("invitation-list", team.org)))} == {pending.pk, revoked.pk}
    assert [i["id"] for i in results(client.get(url("invitation-list", team.org) + "?status=pending"))] == [pending.pk]


def test_resending_mails_a_fresh_link_and_the_old_one_stops_working(
    team, client_for, django_capture_on_commit_callbacks
):
    client = client_for(team.admin)
    with django_capture_on_commit_callbacks(execute=True):
        created = post(client, url("invitation-list", team.org), {"email": "ana@example.com"}).json()
    invitation = Invitation.objects.for_org(team.org).get(pk=created["id"])
    invitation.expires_at = timezone.now() + timedelta(hours=1)
    invitation.save(update_fields=["expires_at"])
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, url("invitation-resend", team.org, pk=invitation.pk))
    assert response.status_code == 200
    resent_expiry = datetime.fromisoformat(response.json()["expires_at"].replace("Z", "+00:00"))
    assert resent_expiry > timezone.now() + timedelta(days=6)
    old_token, new_token = (_token_in(message) for message in mail.outbox)
    assert old_token != new_token
    assert invitation_from_token(new_token).pk == invitation.pk
    with pytest.raises(InvitationInvalid):
        invitation_from_token(old_token)
    assert audit(team.org, "invitation.resent").count() == 1


def test_revoking_an_invitation_and_revoking_it_again(team, client_for):
    invitation = InvitationFactory(organization=team.org)
    client = client_for(team.admin)
    assert client.delete(url("invitation-detail", team.org, pk=invitation.pk)).status_code == 204
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.REVOKED
    assert audit(team.org, "invitation.revoked").count() == 1
    before = stored_rows()
    assert_error(client.delete(url("invitation-detail", team.org, pk=invitation.pk)), 409)
    assert_error(post(client, url("invitation-resend", team.org, pk=invitation.pk)), 409)
    assert stored_rows() == before


# --- audit events ---------------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _event(org, action: str, minutes: int, actor: str = "ana@example.com") -> AuditEvent:
    # The audit log is append-only (no UPDATE), so events are written with their time.
    return AuditEvent.objects.create(
        organization=org, action=action, actor_label=actor, created_at=T0 + timedelta(minutes=minutes)
    )


@pytest.fixture
def timeline(team, other_team):
    events = {
        "created": _event(team.org, "invitation.created", 0),
        "resent": _event(team.org, "invitation.resent", 10, actor="bob@example.com"),
        "role": _event(team.org, "membership.role_changed", 20),
        "key": _event(team.org, "api_key.created", 30, actor="BOB@example.com"),
    }
    _event(other_team.org, "invitation.created", 5)
    return events


def _ids(client: Client, org, query: str) -> list[int]:
    return [e["id"] for e in results(client.get(url("audit-event-list", org) + query))]


def test_audit_events_are_listed_newest_first_and_only_the_organizations(team, client_for, timeline):
    ids = _ids(client_for(team.admin), team.org, "?" + urlencode({"until": (T0 + timedelta(hours=1)).isoformat()}))
    assert ids == [timeline[name].pk for name in ("key", "role", "resent", "created")]


def test_audit_events_are_filtered_by_action_prefix_and_actor(team, client_for, timeline):
    client = client_for(team.admin)
    assert _ids(client, team.org, "?action=invitation.") == [timeline["resent"].pk, timeline["created"].pk]
    assert _ids(client, team.org, "?action=invitation.resent") == [timeline["resent"].pk]
    assert _ids(client, team.org, "?actor=bob@") == [timeline["key"].pk, timeline["resent"].pk]


def test_audit_events_are_filtered_by_a_half_open_time_range(team, client_for, timeline):
    client = client_for(team.admin)
    since, until = (T0 + timedelta(minutes=10)).isoformat(), (T0 + timedelta(minutes=30)).isoformat()
    query = "?" + urlencode({"since": since, "until": until})
    assert _ids(client, team.org, query) == [timeline["role"].pk, timeline["resent"].pk]
    zulu = "?since=2026-03-01T12:20:00Z&until=2026-03-01T12:30:00.000001Z"
    assert _ids(client, team.org, zulu) == [timeline["key"].pk, timeline["role"].pk]


@pytest.mark.parametrize("param", ["since", "until"])
def test_an_invalid_datetime_filter_is_a_400_naming_it(team, client_for, param):
    body = assert_error(client_for(team.admin).get(url("audit-event-list", team.org) + f"?{param}=yesterday"), 400)
    assert list(body["fields"]) == [param]


def test_an_audit_event_of_another_organization_is_404(team, other_team, client_for, timeline):
    foreign = AuditEvent.objects.for_org(other_team.org).get()
    assert_error(client_for(team.admin).get(url("audit-event-detail", team.org, pk=foreign.pk)), 404)
    mine = client_for(team.admin).get(url("audit-event-detail", team.org, pk=timeline["role"].pk)).json()
    assert (mine["action"], mine["actor"]) == ("membership.role_changed", "ana@example.com")


def test_audit_events_page_with_a_cursor_without_overlap(team, client_for):
    expected = [_event(team.org, f"test.event{n}", n).pk for n in range(7)][::-1]  # newest first
    client = client_for(team.admin)
    page_url = url("audit-event-list", team.org) + "?action=test.&page_size=3"
    pages = []
    while page_url:
        response = client.get(page_url)
        assert response.status_code == 200
        pages.append([e["id"] for e in response.json()["results"]])
        page_url = response.json()["next"]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [pk for page in pages for pk in page] == expected


def test_a_page_size_above_the_maximum_is_capped(team, client_for):
    AuditEvent.objects.bulk_create(
        AuditEvent(organization=team.org, action="test.bulk", created_at=T0 + timedelta(seconds=n)) for n in range(205)
    )
    body = client_for(team.admin).get(url("audit-event-list", team.org) + "?action=test.&page_size=1000").json()
    assert len(body["results"]) == 200 and body["next"]


def test_the_cursor_is_stable_when_events_arrive_between_pages(team, client_for):
    older = [_event(team.org, f"test.e{n}", n).pk for n in range(4)][::-1]
    client = client_for(team.admin)
    first = client.get(url("audit-event-list", team.org) + "?action=test.&page_size=2").json()
    _event(team.org, "test.new", 100)
    second = client.get(first["next"]).json()
    assert [e["id"] for e in first["results"]] + [e["id"] for e in second["results"]] == older
