"""Browser sessions that passed (or did not pass) a second factor, for tests of organizations
that require 2FA and of the admin.

``client.force_login`` makes a session with no authentication records, which counts as
*not* having passed a second factor. ``client_with_second_factor`` writes the records the
login and 2FA stages write (allauth's own ``record_authentication``, as allauth's tests set
the records), ``sign_in_with_second_factor`` goes through the real login and 2FA pages.
"""

from __future__ import annotations

import pyotp
from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import PASSWORD


def enable_totp(user: User) -> pyotp.TOTP:
    """Give the account a TOTP authenticator (if it has none) and return a generator for its codes."""
    existing = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if existing is not None:
        return pyotp.TOTP(_secret_of(existing))
    secret = pyotp.random_base32()
    TOTP.activate(user, secret)
    return pyotp.TOTP(secret)


def _secret_of(authenticator: Authenticator) -> str:
    from allauth.mfa.utils import decrypt

    return decrypt(authenticator.data["secret"])


def record_second_factor(client: Client, user: User, *, reauthenticated: bool = False) -> Client:
    """Add to the client's session what allauth records when ``user`` passes the TOTP stage
    (and, with ``reauthenticated``, a password confirmation just now)."""
    enable_totp(user)
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    request = RequestFactory().get("/")
    request.session = client.session
    record_authentication(request, user, "password", email=user.email)
    record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type)
    if reauthenticated:
        record_authentication(request, user, "password", reauthenticated=True)
    request.session.save()
    return client


def client_with_second_factor(user: User, *, reauthenticated: bool = True, **defaults) -> Client:
    """A browser session signed in as ``user`` that passed TOTP (enrolling it if needed)
    and, by default, confirmed the password just now (as sensitive writes need)."""
    client = Client(**defaults)
    client.force_login(user)
    return record_second_factor(client, user, reauthenticated=reauthenticated)


def client_without_second_factor(user: User, *, with_totp: bool = True, **defaults) -> Client:
    """A session signed in (and just reauthenticated) with the password only; by default the
    account does have TOTP: the case the organization's rule must still refuse."""
    if with_totp:
        enable_totp(user)
    client = Client(**defaults)
    client.force_login(user)
    request = RequestFactory().get("/")
    request.session = client.session
    record_authentication(request, user, "password", email=user.email)
    record_authentication(request, user, "password", reauthenticated=True)
    request.session.save()
    return client


def sign_in_with_second_factor(client: Client, user: User, *, next_url: str = "") -> object:
    """The real pages: email and password at allauth's login, then a TOTP code. Returns the
    response to the code."""
    totp = enable_totp(user)
    data = {"login": user.email, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    stage = client.post(reverse("account_login"), data)
    assert stage.status_code == 302 and stage["Location"].startswith(reverse("mfa_authenticate")), stage
    return client.post(reverse("mfa_authenticate"), {"code": totp.now()})
