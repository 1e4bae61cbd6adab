"""Password and 2FA resets offer to revoke all of the user's API keys (in every organization), and
the security page has an explicit "revoke all my API keys"; each revocation is audited."""

from __future__ import annotations

import re

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey, AuditEvent
from accounts.roles import Role
from accounts.tests.api_helpers import issue_key, key_client, reauthenticated_client
from accounts.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Quartz-Lantern-5521-plum"


@pytest.fixture
def keys_in_two_organizations(team, other_team):
    """The trader holds two keys in the team and one in another organization; someone else holds one."""
    MembershipFactory(organization=other_team.org, user=team.trader, role=Role.VIEWER)
    mine = [issue_key(team.org, team.trader), issue_key(team.org, team.trader), issue_key(other_team.org, team.trader)]
    theirs = issue_key(team.org, team.viewer)
    return mine, theirs


def _works(issued) -> bool:
    return key_client(issued).get(f"/api/v1/orgs/{issued.api_key.organization.slug}/").status_code == 200


def _reset_password(user, *, revoke: bool | None):
    client = Client()
    client.post(reverse("account_reset_password"), {"email": user.email})
    (message,) = [m for m in mail.outbox if m.to == [user.email]]
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/[^/\s]+/)", message.body).group(1)
    form_url = client.get(link)["Location"]  # allauth moves the key out of the URL first
    page = client.get(form_url)
    data = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    if revoke:
        data["revoke_api_keys"] = "on"
    return page, client.post(form_url, data)


def test_the_password_reset_form_offers_to_revoke_the_keys_and_revokes_them_all_when_ticked(
    team, keys_in_two_organizations
):
    mine, theirs = keys_in_two_organizations
    page, done = _reset_password(team.trader, revoke=True)
    assert "Also revoke all my API keys (3 active)" in page.content.decode()
    assert done.status_code == 302
    assert not any(_works(issued) for issued in mine)
    assert _works(theirs)
    summary = AuditEvent.objects.for_user_history(team.trader).get(action="api_key.revoked_all")
    assert summary.details == {"count": 3, "reason": "password_reset"}
    per_org = {event.organization_id for event in AuditEvent.all_objects.filter(action="api_key.revoked")}
    assert per_org == {team.org.pk, mine[2].api_key.organization_id}


def test_a_password_reset_without_the_box_ticked_keeps_the_keys(team, keys_in_two_organizations):
    mine, _ = keys_in_two_organizations
    _, done = _reset_password(team.trader, revoke=False)
    assert done.status_code == 302
    assert all(_works(issued) for issued in mine)


def test_a_user_without_keys_is_not_offered_anything(team):
    page, _ = _reset_password(team.viewer, revoke=None)
    assert "revoke all my API keys" not in page.content.decode().lower()


def test_turning_off_the_authenticator_app_offers_to_revoke_the_keys(team, keys_in_two_organizations):
    mine, theirs = keys_in_two_organizations
    Authenticator.objects.create(user=team.trader, type=Authenticator.Type.TOTP, data={"secret": pyotp.random_base32()})
    client = reauthenticated_client(team.trader)
    page = client.get(reverse("mfa_deactivate_totp"))
    assert "Also revoke all my API keys (3 active)" in page.content.decode()
    response = client.post(reverse("mfa_deactivate_totp"), {"revoke_api_keys": "on"})
    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=team.trader, type=Authenticator.Type.TOTP).exists()
    assert not any(_works(issued) for issued in mine) and _works(theirs)
    summary = AuditEvent.objects.for_user_history(team.trader).get(action="api_key.revoked_all")
    assert summary.details["reason"] == "mfa_totp_removed"


def test_the_security_page_revokes_all_my_keys_after_the_password_prompt(team, keys_in_two_organizations, client_for):
    mine, theirs = keys_in_two_organizations
    url = reverse("account_api_keys_revoke_all")
    assert "Revoke all my API keys" in client_for(team.trader).get(reverse("account_security")).content.decode()
    unconfirmed = client_for(team.trader).post(url)
    assert unconfirmed.status_code == 302 and unconfirmed["Location"].startswith(reverse("account_reauthenticate"))
    assert all(_works(issued) for issued in mine)
    confirmed = reauthenticated_client(team.trader).post(url)
    assert confirmed["Location"] == reverse("account_security")
    assert not any(_works(issued) for issued in mine) and _works(theirs)
    assert ApiKey.objects.for_user(team.trader).filter(revoked_at__isnull=True).count() == 0
