"""An organization that requires two-factor authentication keeps out of every page except
"leave organization" members without TOTP (until they enrol) and sessions whose login did not
pass the second factor (until they enter a code), whatever the account has."""

from __future__ import annotations

from urllib.parse import urlencode

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Membership
from accounts.roles import Role
from accounts.tests.factories import PASSWORD
from accounts.tests.second_factor import (
    client_with_second_factor,
    client_without_second_factor,
    enable_totp,
    sign_in_with_second_factor,
)

pytestmark = pytest.mark.django_db

ORG_PAGES = ["org_dashboard", "org_members", "org_settings", "org_audit"]


@pytest.fixture
def strict_team(team):
    team.org.require_2fa = True
    team.org.save(update_fields=["require_2fa"])
    return team


def _url(team, name: str) -> str:
    return reverse(name, args=[team.org.slug])


def _code_prompt(path: str) -> str:
    return f"{reverse('mfa_reauthenticate')}?{urlencode({'next': path})}"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER, Role.ADMIN, Role.OWNER])
@pytest.mark.parametrize("page", ORG_PAGES)
def test_a_member_without_totp_is_sent_to_totp_activation(strict_team, client_for, role, page):
    response = client_for(strict_team.user(role)).get(_url(strict_team, page))
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")


def test_the_redirect_says_why(strict_team, client_for):
    response = client_for(strict_team.trader).get(_url(strict_team, "org_dashboard"))
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("requires two-factor authentication" in m for m in messages)


def test_a_member_without_totp_cannot_act_through_a_post_either(strict_team, client_for):
    trader_membership = strict_team.membership(Role.TRADER)
    response = client_for(strict_team.admin).post(
        reverse("member_role", args=[strict_team.org.slug, trader_membership.pk]), {"role": Role.VIEWER}
    )
    assert response["Location"] == reverse("mfa_activate_totp")
    trader_membership.refresh_from_db()
    assert trader_membership.role == Role.TRADER


def test_a_member_without_totp_can_still_leave(strict_team, client_for):
    client = client_for(strict_team.viewer)
    assert client.get(_url(strict_team, "org_leave")).status_code == 200
    response = client.post(_url(strict_team, "org_leave"))
    assert response.status_code == 302
    assert not Membership.objects.for_org(strict_team.org).filter(user=strict_team.viewer).exists()


@pytest.mark.parametrize("page", ORG_PAGES)
def test_a_session_that_passed_the_second_factor_gets_in(strict_team, page):
    assert client_with_second_factor(strict_team.admin).get(_url(strict_team, page)).status_code == 200


@pytest.mark.parametrize("page", ORG_PAGES)
def test_a_member_with_totp_whose_login_skipped_it_is_asked_for_a_code(strict_team, page):
    """The account has TOTP, but this session signed in with the password only (as Django's
    admin form did): having a second factor is not passing it."""
    client = client_without_second_factor(strict_team.admin)
    response = client.get(_url(strict_team, page))
    assert response.status_code == 302
    assert response["Location"] == _code_prompt(_url(strict_team, page))


def test_a_session_without_authentication_records_has_not_passed(strict_team, client_for):
    """Sessions made before the records existed (here: force_login, which writes none)."""
    enable_totp(strict_team.viewer)
    response = client_for(strict_team.viewer).get(_url(strict_team, "org_dashboard"))
    assert response["Location"] == _code_prompt(_url(strict_team, "org_dashboard"))


def test_the_code_prompt_says_why(strict_team):
    response = client_without_second_factor(strict_team.trader).get(_url(strict_team, "org_dashboard"))
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("enter a code from your authenticator app" in m for m in messages)


def test_entering_a_code_for_this_session_lets_the_member_in(strict_team):
    totp = enable_totp(strict_team.trader)
    client = client_without_second_factor(strict_team.trader)
    prompt = client.get(_url(strict_team, "org_dashboard"))["Location"]
    assert client.get(prompt).status_code == 200
    answered = client.post(prompt, {"code": totp.now()})
    assert answered.status_code == 302 and answered["Location"] == _url(strict_team, "org_dashboard")
    assert client.get(_url(strict_team, "org_dashboard")).status_code == 200


def test_signing_in_through_the_2fa_stage_gets_in(strict_team):
    client = Client()
    response = sign_in_with_second_factor(client, strict_team.viewer, next_url=_url(strict_team, "org_dashboard"))
    assert response["Location"] == _url(strict_team, "org_dashboard")
    assert client.get(_url(strict_team, "org_dashboard")).status_code == 200


def test_a_member_who_enrols_through_the_real_flow_gets_in_after_entering_a_code(strict_team, client_for):
    client = client_for(strict_team.trader)
    redirected = client.get(_url(strict_team, "org_dashboard"))
    to_reauth = client.get(redirected["Location"])
    assert to_reauth["Location"].startswith(reverse("account_reauthenticate"))
    client.post(to_reauth["Location"], {"password": PASSWORD})
    page = client.get(reverse("mfa_activate_totp"))
    totp = pyotp.parse_uri(page.context["totp_url"])
    assert client.post(reverse("mfa_activate_totp"), {"code": totp.now()}).status_code == 302
    # Enrolling is not signing in with the second factor: this session confirms a code once
    # (a recovery code here, as the TOTP code just used cannot be used twice).
    prompt = client.get(_url(strict_team, "org_dashboard"))["Location"]
    assert prompt == _code_prompt(_url(strict_team, "org_dashboard"))
    codes = Authenticator.objects.get(user=strict_team.trader, type=Authenticator.Type.RECOVERY_CODES)
    assert client.post(prompt, {"code": codes.wrap().get_unused_codes()[0]}).status_code == 302
    assert client.get(_url(strict_team, "org_dashboard")).status_code == 200


def test_the_requirement_applies_only_to_the_organization_that_set_it(strict_team, other_team, client_for):
    Membership.objects.create(organization=other_team.org, user=strict_team.trader, role=Role.TRADER)
    client = client_for(strict_team.trader)
    assert client.get(_url(other_team, "org_dashboard")).status_code == 200
    assert client.get(_url(strict_team, "org_dashboard"))["Location"] == reverse("mfa_activate_totp")


def test_an_outsider_gets_a_404_not_a_2fa_prompt(strict_team, outsider, client_for):
    assert client_for(outsider).get(_url(strict_team, "org_dashboard")).status_code == 404


def test_without_the_requirement_members_get_in_without_totp(team, client_for):
    assert client_for(team.viewer).get(_url(team, "org_dashboard")).status_code == 200


# --- switching it on and off -------------------------------------------------------------------


def _save_settings(client, team, *, require_2fa: bool):
    data = {"name": team.org.name}
    if require_2fa:
        data["require_2fa"] = "on"
    return client.post(_url(team, "org_settings"), data)


def test_an_admin_turning_the_requirement_on_and_off_is_audited_with_from_and_to(team):
    # Once it is on, the admin needs a session that passed TOTP (and, to switch it off, a
    # recent password confirmation) to reach settings.
    client = client_with_second_factor(team.admin)
    assert _save_settings(client, team, require_2fa=True).status_code == 302
    team.org.refresh_from_db()
    assert team.org.require_2fa is True
    assert _save_settings(client, team, require_2fa=False).status_code == 302
    team.org.refresh_from_db()
    assert team.org.require_2fa is False

    events = AuditEvent.objects.for_org(team.org).filter(action="organization.updated").order_by("id")
    assert [e.details for e in events] == [
        {"require_2fa": {"from": False, "to": True}},
        {"require_2fa": {"from": True, "to": False}},
    ]
    assert all(e.actor_user_id == team.admin.pk for e in events)


def test_once_an_admin_turns_it_on_members_without_totp_are_sent_to_enrol(team, client_for):
    _save_settings(client_for(team.admin), team, require_2fa=True)
    response = client_for(team.viewer).get(_url(team, "org_dashboard"))
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")


def test_saving_unchanged_settings_records_nothing(team, client_for):
    _save_settings(client_for(team.admin), team, require_2fa=False)
    assert not AuditEvent.objects.for_org(team.org).filter(action="organization.updated").exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER])
def test_members_below_admin_cannot_change_the_requirement(team, client_for, role):
    response = _save_settings(client_for(team.user(role)), team, require_2fa=True)
    assert response.status_code == 403
    team.org.refresh_from_db()
    assert team.org.require_2fa is False
    assert not AuditEvent.objects.for_org(team.org).filter(action="organization.updated").exists()


def test_switching_the_requirement_off_needs_a_recent_password_confirmation(strict_team):
    client = client_with_second_factor(strict_team.admin, reauthenticated=False)
    response = _save_settings(client, strict_team, require_2fa=False)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    strict_team.org.refresh_from_db()
    assert strict_team.org.require_2fa is True
    assert not AuditEvent.objects.for_org(strict_team.org).filter(action="organization.updated").exists()

    assert client.post(response["Location"], {"password": PASSWORD}).status_code == 302
    assert _save_settings(client, strict_team, require_2fa=False).status_code == 302
    strict_team.org.refresh_from_db()
    assert strict_team.org.require_2fa is False


def test_renaming_a_strict_organization_needs_no_password_confirmation(strict_team):
    client = client_with_second_factor(strict_team.admin, reauthenticated=False)
    response = client.post(_url(strict_team, "org_settings"), {"name": "Alpha Renamed", "require_2fa": "on"})
    assert response["Location"] == _url(strict_team, "org_settings")
    strict_team.org.refresh_from_db()
    assert (strict_team.org.name, strict_team.org.require_2fa) == ("Alpha Renamed", True)
