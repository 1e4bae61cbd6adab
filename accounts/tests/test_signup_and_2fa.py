"""Sign-up, email verification, TOTP two-factor authentication and sign-in notices,
driven through allauth's real URLs with the test client."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Membership, Organization, User
from accounts.roles import Role
from accounts.tests.factories import PASSWORD, UserFactory

SIGNUP_PASSWORD = "Plum-Orbit-7391-quartz"
LOGIN_FAILED_PER_ACCOUNT = 5  # ACCOUNT_RATE_LIMITS["login_failed"] = "...,5/5m/key" in the test settings
LOGINS_PER_MINUTE_PER_IP = 30  # allauth's default "login" rate, which the settings keep


# --- helpers --------------------------------------------------------------------------------


def _signup(client: Client, email: str, password: str = SIGNUP_PASSWORD, password2: str | None = None):
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": password, "password2": password if password2 is None else password2},
    )


def _login(client: Client, email: str, password: str):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def _confirmation_path(message) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^/\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def _signed_in_user(client: Client):
    return get_user(client)


def _wrong_code(totp: pyotp.TOTP) -> str:
    """A six-digit code that is certainly not the current one (nor the previous or next)."""
    now = time.time()
    valid = {totp.at(now + drift) for drift in (-totp.interval, 0, totp.interval)}
    return next(f"{n:06d}" for n in range(1, 10) if f"{n:06d}" not in valid)


def _sign_up_and_verify(client: Client, email: str) -> User:
    """The whole first visit: sign up, open the emailed link, confirm (which signs them in)."""
    _signup(client, email)
    (message,) = [m for m in mail.outbox if m.to == [email]]
    path = _confirmation_path(message)
    assert client.get(path).status_code == 200
    response = client.post(path)
    assert response.status_code == 302
    return User.objects.get(email=email)


def _reauthenticate(client: Client, response, password: str):
    """allauth sends sensitive pages through a password prompt first; answer it."""
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    return client.post(response["Location"], {"password": password})


def _enrol_totp(client: Client, password: str) -> pyotp.TOTP:
    """Activate TOTP as a person would: reauthenticate, scan the otpauth URL, type the code."""
    _reauthenticate(client, client.get(reverse("mfa_activate_totp")), password)
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    totp = pyotp.parse_uri(page.context["totp_url"])  # what the authenticator app reads from the QR code
    assert totp.secret in page.content.decode()  # also shown for typing in by hand
    response = client.post(reverse("mfa_activate_totp"), {"code": totp.now()})
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    return totp


# --- sign-up and verification ---------------------------------------------------------------


@pytest.mark.django_db
def test_signing_up_sends_exactly_one_verification_email():
    client = Client()
    response = _signup(client, "alice@example.com")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]
    assert "/accounts/confirm-email/" in mail.outbox[0].body
    assert EmailAddress.objects.get(email="alice@example.com").verified is False


@pytest.mark.django_db
def test_login_is_refused_until_the_email_is_verified():
    _signup(Client(), "alice@example.com")
    client = Client()
    response = _login(client, "alice@example.com", SIGNUP_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert not _signed_in_user(client).is_authenticated
    assert client.get(reverse("app_home")).status_code == 302  # bounced to login


@pytest.mark.django_db
def test_confirming_the_email_signs_the_user_in_and_later_logins_work():
    client = Client()
    user = _sign_up_and_verify(client, "alice@example.com")
    assert EmailAddress.objects.get(email="alice@example.com").verified is True
    assert _signed_in_user(client) == user

    later = Client()
    response = _login(later, "alice@example.com", SIGNUP_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("app_home")
    assert _signed_in_user(later) == user


@pytest.mark.django_db
def test_a_new_user_gets_a_first_organization_that_they_own():
    client = Client()
    user = _sign_up_and_verify(client, "alice@example.com")
    (membership,) = Membership.objects.for_user(user)
    assert membership.role == Role.OWNER
    assert membership.organization.name == "alice's organization"
    user.refresh_from_db()
    assert user.default_organization == membership.organization
    response = client.get(reverse("app_home"))
    assert response["Location"] == reverse("org_dashboard", args=[membership.organization.slug])


@pytest.mark.django_db
def test_signing_up_with_a_taken_email_creates_nothing_and_changes_nothing():
    existing = UserFactory(email="alice@example.com")
    organizations = Organization.objects.count()
    response = _signup(Client(), "Alice@Example.com", password="Another-Password-4821")
    # Same answer as a fresh sign-up, so the form does not reveal who has an account.
    assert response.status_code == 302
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    assert EmailAddress.objects.filter(email__iexact="alice@example.com").count() == 1
    assert Organization.objects.count() == organizations
    existing.refresh_from_db()
    assert existing.check_password(PASSWORD)
    assert not existing.check_password("Another-Password-4821")
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]  # told, not confirmed again
    assert "/accounts/confirm-email/" not in mail.outbox[0].body


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("email", "password1", "password2", "field"),
    [
        ("not-an-email", SIGNUP_PASSWORD, SIGNUP_PASSWORD, "email"),
        ("alice@example.com", SIGNUP_PASSWORD, SIGNUP_PASSWORD + "x", "password2"),
        ("alice@example.com", "short", "short", "password1"),
        ("alice@example.com", "password123", "password123", "password1"),
    ],
)
def test_an_invalid_sign_up_form_shows_errors_and_creates_no_user(email, password1, password2, field):
    response = _signup(Client(), email, password=password1, password2=password2)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not User.objects.exists()
    assert mail.outbox == []


# --- TOTP two-factor authentication ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_enrolling_totp_creates_recovery_codes_and_sends_a_security_email():
    client = Client()
    user = _sign_up_and_verify(client, "alice@example.com")
    mail.outbox.clear()
    _enrol_totp(client, SIGNUP_PASSWORD)
    types = set(Authenticator.objects.filter(user=user).values_list("type", flat=True))
    assert types == {Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES}
    codes = client.get(reverse("mfa_view_recovery_codes"))
    assert len(codes.context["unused_codes"]) == 10
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    assert "authenticator" in mail.outbox[0].subject.lower()


@pytest.mark.django_db(transaction=True)
def test_after_enrolling_totp_login_needs_the_current_code():
    client = Client()
    user = _sign_up_and_verify(client, "alice@example.com")
    totp = _enrol_totp(client, SIGNUP_PASSWORD)
    client.post(reverse("account_logout"))
    assert not _signed_in_user(client).is_authenticated

    response = _login(client, "alice@example.com", SIGNUP_PASSWORD)
    assert response["Location"] == reverse("mfa_authenticate")
    assert not _signed_in_user(client).is_authenticated

    refused = client.post(reverse("mfa_authenticate"), {"code": _wrong_code(totp)})
    assert refused.status_code == 200
    assert "code" in refused.context["form"].errors
    assert not _signed_in_user(client).is_authenticated

    accepted = client.post(reverse("mfa_authenticate"), {"code": totp.now()})
    assert accepted.status_code == 302
    assert accepted["Location"] == reverse("app_home")
    assert _signed_in_user(client) == user


@pytest.mark.django_db(transaction=True)
def test_a_recovery_code_signs_in_once():
    client = Client()
    _sign_up_and_verify(client, "alice@example.com")
    _enrol_totp(client, SIGNUP_PASSWORD)
    code = client.get(reverse("mfa_view_recovery_codes")).context["unused_codes"][0]
    client.post(reverse("account_logout"))

    _login(client, "alice@example.com", SIGNUP_PASSWORD)
    assert client.post(reverse("mfa_authenticate"), {"code": code}).status_code == 302
    assert _signed_in_user(client).is_authenticated
    client.post(reverse("account_logout"))

    _login(client, "alice@example.com", SIGNUP_PASSWORD)
    assert client.post(reverse("mfa_authenticate"), {"code": code}).status_code == 200
    assert not _signed_in_user(client).is_authenticated


# --- the audit trail of all this --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sign_up_login_failures_and_2fa_changes_are_audited_without_the_password():
    client = Client()
    user = _sign_up_and_verify(client, "alice@example.com")
    _enrol_totp(client, SIGNUP_PASSWORD)
    _login(Client(), "alice@example.com", "Wrong-Password-0000")

    history = AuditEvent.objects.for_user_history(user)
    actions = set(history.values_list("action", flat=True))
    assert {"user.signed_up", "auth.login", "mfa.totp_added", "mfa.recovery_codes_added"} <= actions
    for action in ("user.signed_up", "auth.login", "mfa.totp_added", "mfa.recovery_codes_added"):
        event = history.filter(action=action).latest("id")
        assert event.actor_user_id == user.pk, action
        assert (event.target_type, event.target_id) == ("accounts.user", str(user.pk)), action

    failed = history.get(action="auth.login_failed")
    assert failed.actor_user_id is None
    assert failed.actor_label == "anonymous"
    assert (failed.target_type, failed.target_id) == ("accounts.user", str(user.pk))
    assert failed.details == {"email": "alice@example.com"}

    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(e)::text FROM accounts_auditevent e")
        everything = "\n".join(row[0] for row in cursor.fetchall())
    assert SIGNUP_PASSWORD not in everything
    assert "Wrong-Password-0000" not in everything


@pytest.mark.django_db
def test_a_failed_login_for_an_unknown_address_is_audited_without_a_target():
    _login(Client(), "nobody@example.com", "Wrong-Password-0000")
    event = AuditEvent.all_objects.get(action="auth.login_failed")
    assert event.target_id == ""
    assert event.target_label == "nobody@example.com"
    assert "Wrong-Password-0000" not in str(event.details)


# --- rate limits ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_repeated_failed_logins_lock_the_account_even_against_the_right_password():
    user = UserFactory()
    client = Client()
    for _ in range(LOGIN_FAILED_PER_ACCOUNT):
        refused = _login(client, user.email, "Wrong-Password-0000")
        assert refused.status_code == 200
    response = _login(client, user.email, PASSWORD)
    assert response.status_code == 200
    assert "Too many failed login attempts" in str(response.context["form"].errors)
    assert not _signed_in_user(client).is_authenticated


@pytest.mark.django_db
def test_hammering_the_login_form_from_one_address_gets_a_429():
    client = Client()
    for n in range(LOGINS_PER_MINUTE_PER_IP):
        assert _login(client, f"guess{n}@example.com", "Wrong-Password-0000").status_code == 200
    response = _login(client, "guess-last@example.com", "Wrong-Password-0000")
    assert response.status_code == 429
    # Another address is not affected.
    other = Client(REMOTE_ADDR="198.51.100.20")
    assert _login(other, "guess-other@example.com", "Wrong-Password-0000").status_code == 200


# --- "new sign-in" notices ---------------------------------------------------------------------


def _new_sign_in_mails(user) -> list:
    return [m for m in mail.outbox if m.to == [user.email] and "new sign-in" in m.subject.lower()]


@pytest.mark.django_db
def test_the_first_login_after_sign_up_sends_no_new_sign_in_notice():
    user = _sign_up_and_verify(Client(), "alice@example.com")
    assert AuditEvent.objects.for_user_history(user).filter(action="auth.login").count() == 1
    assert _new_sign_in_mails(user) == []


@pytest.mark.django_db
def test_a_login_from_the_same_browser_sends_no_notice():
    user = _sign_up_and_verify(Client(), "alice@example.com")
    _login(Client(), "alice@example.com", SIGNUP_PASSWORD)
    assert _new_sign_in_mails(user) == []


@pytest.mark.django_db
def test_a_login_from_another_browser_sends_a_new_sign_in_notice():
    user = _sign_up_and_verify(Client(), "alice@example.com")
    browser = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15"
    response = _login(Client(HTTP_USER_AGENT=browser), "alice@example.com", SIGNUP_PASSWORD)
    assert response.status_code == 302
    (notice,) = _new_sign_in_mails(user)
    assert browser in notice.body
    assert SIGNUP_PASSWORD not in notice.body
