"""Fixtures shared by every app's tests: one organization with a member of each role,
a second organization, and an outsider — so any test can check all of them in a line."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import Membership, Organization, User
from accounts.roles import Role
from accounts.tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytest_plugins = ["accounts.tests.browser_support"]


@dataclass
class Team:
    org: Organization
    owner: User
    admin: User
    trader: User
    viewer: User

    def user(self, role: str) -> User:
        return getattr(self, Role(role).value)

    def membership(self, role: str) -> Membership:
        return Membership.objects.for_org(self.org).get(user=self.user(role))


def make_team(name: str) -> Team:
    org = OrganizationFactory(name=name)
    users = {role: MembershipFactory(organization=org, role=role).user for role in Role.values}
    return Team(org=org, **users)


@pytest.fixture
def team(db) -> Team:
    return make_team("Alpha")


@pytest.fixture
def other_team(db) -> Team:
    return make_team("Bravo")


@pytest.fixture
def outsider(db) -> User:
    return UserFactory()


@pytest.fixture
def client_for():
    """A test client signed in as the given user."""

    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters and cached sessions live in the test Redis database: start each test clean."""
    cache.clear()
    yield
