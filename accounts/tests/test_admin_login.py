"""The admin's door: allauth's login (its rate limits and 2FA stage) instead of Django's stock
password form, and the admin opens only to staff whose session passed a second factor."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from accounts.tests.second_factor import (
    client_with_second_factor,
    client_without_second_factor,
    enable_totp,
    sign_in_with_second_factor,
)

pytestmark = pytest.mark.django_db

ADMIN_INDEX = "/admin/"


@pytest.fixture
def superuser(db) -> User:
    return UserFactory(is_staff=True, is_superuser=True)


def _path_and_query(url: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(url)
    return parts.path, parse_qs(parts.query)


def test_the_admin_login_page_is_allauths_login():
    response = Client().get(reverse("admin:login"), {"next": ADMIN_INDEX})
    assert response.status_code == 302
    path, query = _path_and_query(response["Location"])
    assert path == reverse("account_login")
    assert query["next"] == [ADMIN_INDEX]


def test_opening_the_admin_signed_out_ends_at_allauths_login():
    client = Client()
    to_admin_login = client.get(ADMIN_INDEX)
    assert _path_and_query(to_admin_login["Location"])[0] == reverse("admin:login")
    to_allauth = client.get(to_admin_login["Location"])
    path, query = _path_and_query(to_allauth["Location"])
    assert path == reverse("account_login")
    assert query["next"] == [ADMIN_INDEX]


def test_the_stock_admin_form_no_longer_signs_anyone_in(superuser):
    """Django's form took a password with no rate limit and no second factor."""
    client = Client()
    response = client.post(reverse("admin:login"), {"username": superuser.email, "password": PASSWORD})
    assert response.status_code == 302
    assert _path_and_query(response["Location"])[0] == reverse("account_login")
    assert SESSION_KEY not in client.session
    assert client.get(ADMIN_INDEX).status_code == 302


def test_staff_who_sign_in_through_allauths_2fa_stage_reach_the_admin(superuser):
    client = Client()
    response = sign_in_with_second_factor(client, superuser, next_url=ADMIN_INDEX)
    assert response["Location"] == ADMIN_INDEX
    assert client.get(ADMIN_INDEX).status_code == 200


def test_allauths_login_asks_staff_with_totp_for_the_code_before_the_admin(superuser):
    enable_totp(superuser)
    client = Client()
    stage = client.post(reverse("account_login"), {"login": superuser.email, "password": PASSWORD, "next": ADMIN_INDEX})
    assert stage["Location"].startswith(reverse("mfa_authenticate"))
    assert SESSION_KEY not in client.session  # the password alone signs nobody in
    assert client.get(ADMIN_INDEX).status_code == 302


def test_failed_admin_logins_meet_allauths_rate_limit(superuser):
    """allauth locks an account after repeated failures (5 per 5 minutes in the test settings);
    Django's admin form never did."""
    client = Client()
    for _ in range(5):
        client.post(reverse("account_login"), {"login": superuser.email, "password": "Wrong-Password-0000"})
    refused = client.post(reverse("account_login"), {"login": superuser.email, "password": PASSWORD})
    assert "Too many failed login attempts" in str(refused.context["form"].errors)
    assert SESSION_KEY not in client.session


def test_staff_with_totp_whose_session_skipped_it_are_asked_for_a_code(superuser):
    client = client_without_second_factor(superuser)
    to_login = client.get(ADMIN_INDEX)
    to_code = client.get(to_login["Location"])
    path, query = _path_and_query(to_code["Location"])
    assert path == reverse("mfa_reauthenticate")
    assert query["next"] == [ADMIN_INDEX]


def test_entering_the_code_opens_the_admin(superuser):
    totp = enable_totp(superuser)
    client = client_without_second_factor(superuser)
    prompt = client.get(client.get(ADMIN_INDEX)["Location"])["Location"]
    answered = client.post(prompt, {"code": totp.now()})
    assert answered["Location"] == ADMIN_INDEX
    assert client.get(ADMIN_INDEX).status_code == 200


def test_staff_without_any_second_factor_are_sent_to_enrol(superuser, client_for):
    client = client_for(superuser)
    to_login = client.get(ADMIN_INDEX)
    assert client.get(to_login["Location"])["Location"] == reverse("mfa_activate_totp")
    assert client.get(ADMIN_INDEX).status_code == 302


def test_signed_in_people_who_are_not_staff_are_refused(team):
    client = client_with_second_factor(team.owner)
    assert client.get(reverse("admin:login")).status_code == 403
    assert client.get(ADMIN_INDEX).status_code == 302


def test_staff_with_a_second_factor_session_are_sent_on_from_the_login_page(superuser):
    client = client_with_second_factor(superuser, reauthenticated=False)
    response = client.get(reverse("admin:login"), {"next": "/admin/accounts/user/"})
    assert response["Location"] == "/admin/accounts/user/"
    offsite = client.get(reverse("admin:login"), {"next": "https://evil.example/"})
    assert offsite["Location"] == ADMIN_INDEX
