"""Seed a demo organization and users for `make run`, then every app's registered part of the demo
(accounts/demo.py). Idempotent; refuses production settings."""

from __future__ import annotations

from pathlib import Path

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.demo import DemoContext, demo_seeders
from accounts.models import Membership, Organization, User
from accounts.roles import Role
from accounts.services import membership_add, organization_create

DEMO_ORG_SLUG = "demo"
DEMO_ORG_NAME = "Demo Trading Desk"


def _ensure_user(email: str, password: str, name: str) -> User:
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password, name=name)
    EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user


class Command(BaseCommand):
    help = "Create (or refresh) the demo organization and its users. Safe to run repeatedly."

    def handle(self, *args, **options) -> None:
        if settings.SETTINGS_MODULE.endswith(".prod"):
            raise CommandError("seed_demo refuses to run with production settings.")
        email = settings.DEMO_EMAIL
        with transaction.atomic():
            owner = _ensure_user(email, settings.DEMO_PASSWORD, "Demo Owner")
            organization = Organization.objects.filter(slug=DEMO_ORG_SLUG).first()
            if organization is None:
                organization = organization_create(user=owner, name=DEMO_ORG_NAME, slug=DEMO_ORG_SLUG)
            elif not Membership.objects.for_org(organization).filter(user=owner).exists():
                membership_add(organization=organization, user=owner, role=Role.OWNER)
            analyst = _ensure_user("analyst@asterai.local", settings.DEMO_PASSWORD, "Demo Analyst")
            membership_add(organization=organization, user=analyst, role=Role.TRADER)
        context = DemoContext(
            organization=organization,
            owner=owner,
            data_dir=Path(settings.SHARED_DATA_DIR),
            stdout=self.stdout,
            style=self.style,
        )
        for seeder in demo_seeders():
            seeder.seed(context)
        self.stdout.write(self.style.SUCCESS(f"Demo organization /o/{organization.slug}/ ready; sign in as {email}"))
