"""The admin site for support staff: the Support group reads and searches and changes
nothing; the audit log is read-only for everyone; admin changes are audited."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Organization, User
from accounts.services import audit_record
from accounts.tests.factories import InvitationFactory, OrganizationFactory, UserFactory
from accounts.tests.second_factor import client_with_second_factor

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for():
    """Sessions that passed a second factor: the admin lets in no other (test_admin_login.py)."""
    return lambda user: client_with_second_factor(user, reauthenticated=False)


MODELS = ["user", "organization", "membership", "invitation", "auditevent"]


@pytest.fixture
def support(db) -> User:
    """Staff in the Support group that migration 0003 creates (not created here)."""
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="Support"))
    return user


@pytest.fixture
def superuser(db) -> User:
    return UserFactory(is_staff=True, is_superuser=True)


def _admin(name: str, *args) -> str:
    return reverse(f"admin:accounts_{name}", args=args)


def _results(response) -> list:
    return list(response.context["cl"].result_list)


def _change_form_data(response) -> dict:
    """What the browser would post back from an admin change page, unchanged."""
    data: dict = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms.extend(formset.forms)
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = "on" if value is True else value
    return data


# --- what support can see ------------------------------------------------------------------------


def test_the_support_group_grants_exactly_view_permissions_on_the_account_models():
    group = Group.objects.get(name="Support")
    codenames = set(group.permissions.values_list("content_type__app_label", "codename"))
    accounts_permissions = {(app, codename) for app, codename in codenames if app == "accounts"}
    assert accounts_permissions == {("accounts", f"view_{model}") for model in MODELS}
    assert all(codename.startswith("view_") for _, codename in codenames)  # read-only everywhere


@pytest.mark.parametrize("model", MODELS)
def test_support_can_open_every_account_changelist(team, support, client_for, model):
    audit_record(action="membership.removed", organization=team.org, actor=team.owner)
    InvitationFactory(organization=team.org)
    response = client_for(support).get(_admin(f"{model}_changelist"))
    assert response.status_code == 200
    assert len(_results(response)) >= 1


@pytest.mark.parametrize("model", MODELS)
def test_staff_outside_the_support_group_see_nothing(team, client_for, model):
    staff = UserFactory(is_staff=True)
    assert client_for(staff).get(_admin(f"{model}_changelist")).status_code == 403


def test_support_finds_a_user_by_email(team, support, client_for):
    wanted = UserFactory(email="needle.person@example.org")
    response = client_for(support).get(_admin("user_changelist"), {"q": "needle.person"})
    assert _results(response) == [wanted]


@pytest.mark.parametrize("query", ["Quiet Harbour", "quiet-harbour-fund"])
def test_support_finds_an_organization_by_name_or_slug(team, other_team, support, client_for, query):
    wanted = OrganizationFactory(name="Quiet Harbour Capital", slug="quiet-harbour-fund")
    response = client_for(support).get(_admin("organization_changelist"), {"q": query})
    assert _results(response) == [wanted]


def test_support_opens_an_organization_read_only(team, support, client_for):
    response = client_for(support).get(_admin("organization_change", team.org.pk))
    assert response.status_code == 200
    content = response.content.decode()
    assert team.org.name in content
    assert team.owner.email in content  # the members are listed
    assert 'name="_save"' not in content
    assert 'name="_continue"' not in content
    assert 'name="_addanother"' not in content


def test_support_cannot_change_an_organization_by_posting(team, support, client_for):
    superuser_view = client_for(UserFactory(is_staff=True, is_superuser=True)).get(
        _admin("organization_change", team.org.pk)
    )
    data = _change_form_data(superuser_view) | {"name": "Taken over"}
    response = client_for(support).post(_admin("organization_change", team.org.pk), data)
    assert response.status_code == 403
    team.org.refresh_from_db()
    assert team.org.name == "Alpha"


@pytest.mark.parametrize("model", MODELS)
def test_support_cannot_add(support, client_for, model):
    assert client_for(support).get(_admin(f"{model}_add")).status_code == 403


def test_support_cannot_delete(team, support, client_for):
    client = client_for(support)
    assert client.get(_admin("organization_delete", team.org.pk)).status_code == 403
    assert client.post(_admin("organization_delete", team.org.pk), {"post": "yes"}).status_code == 403
    assert client.post(_admin("user_delete", team.viewer.pk), {"post": "yes"}).status_code == 403
    assert Organization.objects.filter(pk=team.org.pk).exists()
    assert User.objects.filter(pk=team.viewer.pk).exists()


def test_support_cannot_restore_a_deleted_organization(team, support, client_for):
    team.org.deleted_at = timezone.now()
    team.org.save(update_fields=["deleted_at"])
    client_for(support).post(
        _admin("organization_changelist"), {"action": "restore", "_selected_action": [team.org.pk]}
    )
    team.org.refresh_from_db()
    assert team.org.deleted_at is not None


# --- the audit log is read-only for everyone --------------------------------------------------------------


@pytest.fixture
def event(team) -> AuditEvent:
    return audit_record(action="membership.removed", organization=team.org, actor=team.owner)


@pytest.mark.parametrize("who", ["support", "superuser"])
def test_nobody_can_change_an_audit_event_in_the_admin(event, client_for, request, who):
    client = client_for(request.getfixturevalue(who))
    page = client.get(_admin("auditevent_change", event.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    response = client.post(_admin("auditevent_change", event.pk), {"action": "nothing.happened"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.action == "membership.removed"


@pytest.mark.parametrize("who", ["support", "superuser"])
def test_nobody_can_delete_an_audit_event_in_the_admin(event, client_for, request, who):
    client = client_for(request.getfixturevalue(who))
    assert client.get(_admin("auditevent_delete", event.pk)).status_code == 403
    assert client.post(_admin("auditevent_delete", event.pk), {"post": "yes"}).status_code == 403
    client.post(
        _admin("auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert AuditEvent.all_objects.filter(pk=event.pk).exists()


def test_support_can_still_read_events_of_a_purged_organization_and_a_deleted_user(team, support, client_for):
    event = audit_record(action="membership.removed", organization=team.org, actor=team.viewer)
    organization_id, viewer_email = team.org.pk, team.viewer.email
    team.viewer.delete()
    team.org.delete()
    client = client_for(support)
    listing = client.get(_admin("auditevent_changelist"))
    assert event in _results(listing)
    page = client.get(_admin("auditevent_change", event.pk))
    assert page.status_code == 200
    assert viewer_email in page.content.decode()  # the actor as known at the time
    assert AuditEvent.all_objects.get(pk=event.pk).organization_id == organization_id


def test_nobody_can_add_an_audit_event_in_the_admin(superuser, client_for):
    assert client_for(superuser).get(_admin("auditevent_add")).status_code == 403


# --- admin changes are audited -----------------------------------------------------------------------------


def test_a_superuser_renaming_an_organization_is_audited_on_that_organization(team, superuser, client_for):
    client = client_for(superuser)
    page = client.get(_admin("organization_change", team.org.pk))
    data = _change_form_data(page) | {"name": "Alpha Renamed"}
    response = client.post(_admin("organization_change", team.org.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    team.org.refresh_from_db()
    assert team.org.name == "Alpha Renamed"
    event = AuditEvent.objects.for_org(team.org).get(action="admin.changed")
    assert event.actor_user_id == superuser.pk
    assert event.details["model"] == "accounts.organization"
    assert event.details["object_id"] == str(team.org.pk)
    assert "Name" in event.details["change"]
    assert LogEntry.objects.filter(user=superuser, object_id=str(team.org.pk)).count() == 1


def test_the_restore_action_restores_a_deleted_organization_and_audits_it(team, superuser, client_for):
    team.org.deleted_at = timezone.now()
    team.org.purge_after = timezone.now() + timezone.timedelta(days=30)
    team.org.save(update_fields=["deleted_at", "purge_after"])
    response = client_for(superuser).post(
        _admin("organization_changelist"), {"action": "restore", "_selected_action": [team.org.pk]}
    )
    assert response.status_code == 302
    team.org.refresh_from_db()
    assert (team.org.deleted_at, team.org.purge_after) == (None, None)
    event = AuditEvent.objects.for_org(team.org).get(action="organization.restored")
    assert event.actor_user_id == superuser.pk
    assert client_for(team.viewer).get(reverse("org_dashboard", args=[team.org.slug])).status_code == 200


def test_restoring_a_live_organization_changes_nothing(team, superuser, client_for):
    client_for(superuser).post(
        _admin("organization_changelist"), {"action": "restore", "_selected_action": [team.org.pk]}
    )
    assert not AuditEvent.objects.for_org(team.org).filter(action="organization.restored").exists()


def test_a_superuser_changing_a_members_role_in_the_admin_is_audited_on_that_organization(team, superuser, client_for):
    client = client_for(superuser)
    membership = team.membership("trader")
    page = client.get(_admin("membership_change", membership.pk))
    response = client.post(_admin("membership_change", membership.pk), _change_form_data(page) | {"role": "viewer"})
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == "viewer"
    event = AuditEvent.objects.for_org(team.org).get(action="admin.changed")
    assert event.details["model"] == "accounts.membership"


def test_a_superuser_can_edit_a_member_users_profile_in_the_admin(team, superuser, client_for):
    client = client_for(superuser)
    page = client.get(_admin("user_change", team.trader.pk))
    response = client.post(_admin("user_change", team.trader.pk), _change_form_data(page) | {"name": "Renamed Person"})
    assert response.status_code == 302
    team.trader.refresh_from_db()
    assert team.trader.name == "Renamed Person"
    assert AuditEvent.all_objects.filter(action="admin.changed", actor_user=superuser).exists()
