"""Every organization gets its paper exchange account: trading subscribes to organization.created
on the events bus (no hidden save signal)."""

from __future__ import annotations

import pytest
from django.db import transaction

from accounts.models import Organization
from accounts.services import organization_create
from accounts.tests.factories import UserFactory
from trading.models import ExchangeAccount

pytestmark = pytest.mark.django_db


def paper_accounts(organization: Organization) -> int:
    return ExchangeAccount.objects.for_org(organization).filter(mode=ExchangeAccount.Mode.PAPER).count()


def test_a_new_organization_has_its_paper_account_when_its_creation_commits():
    organization = organization_create(user=UserFactory(), name="Desk")
    assert paper_accounts(organization) == 1


def test_an_organization_saved_without_the_service_runs_nothing_hidden():
    bare = Organization.objects.create(name="Bare", slug="bare")
    assert paper_accounts(bare) == 0


def test_a_rolled_back_creation_leaves_no_paper_account():
    with pytest.raises(RuntimeError), transaction.atomic():
        organization = organization_create(user=UserFactory(), name="Gone")
        raise RuntimeError
    assert not ExchangeAccount.all_objects.filter(organization_id=organization.pk).exists()
