import re
import pyotp
import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from accounts.tests.factories import UserFactory, PASSWORD

@pytest.mark.django_db(transaction=True)
def test_explore(django_capture_on_commit_callbacks):
    u = UserFactory()
    c = Client()
    r = c.post(reverse("account_login"), {"login": u.email, "password": PASSWORD})
    print(r.status_code, r.get("Location"))
    r = c.get(reverse("mfa_activate_totp"))
    print(r.status_code, r.get("Location"))
    r = c.post(r["Location"], {"password": PASSWORD})
    print(r.status_code, r.get("Location"))
    r = c.get(reverse("mfa_activate_totp"))
    print(r.status_code, r.get("Location"))
    print(r.context["form"].secret, r.context["totp_url"], c.session.get("mfa.totp.secret"))
    secret = c.session["mfa.totp.secret"]
    if 1:
        r = c.post(reverse("mfa_activate_totp"), {"code": pyotp.TOTP(secret).now()})
    print(r.status_code, r.get("Location"))
    print([m.subject for m in mail.outbox])
    r = c.post(reverse("account_logout"))
    print(r.status_code, r.get("Location"))
    r = c.post(reverse("account_login"), {"login": u.email, "password": PASSWORD})
    print(r.status_code, r.get("Location"))
    r = c.post(reverse("mfa_authenticate"), {"code": "000000"})
    print(r.status_code, r.context["form"].errors)
    r = c.post(reverse("mfa_authenticate"), {"code": pyotp.TOTP(secret).now()})
    print(r.status_code, r.get("Location"))

    from accounts.models import AuditEvent
    for e in AuditEvent.all_objects.order_by("id"):
        print(e.action, e.actor_label, e.target_type, e.target_id, e.ip, repr(e.user_agent), e.details)
    print([(m.subject, m.to) for m in mail.outbox])
