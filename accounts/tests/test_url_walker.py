"""Walks every URL under /o/<org_slug>/ (rule 2): each view declares a minimum role, a
non-member gets 404, organization A's slug with organization B's object ids gets 404,
and a member below the minimum role gets 403. A new organization URL without a factory
below fails this test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.access import declared_min_role
from accounts.roles import Role, role_rank
from accounts.tests.factories import InvitationFactory
from accounts.tests.webhook_factories import WebhookDeliveryFactory, WebhookEndpointFactory
from conftest import Team


@dataclass(frozen=True)
class OrgUrl:
    name: str
    route: str
    view: Callable[..., Any]


def _walk(patterns: list, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def org_urls() -> list[OrgUrl]:
    return [
        OrgUrl(name=pattern.name, route=route, view=pattern.callback)
        for route, pattern in _walk(get_resolver().url_patterns)
        if route.startswith("o/<slug:org_slug>/")
    ]


# One factory per URL name: given the team whose objects to point at, the URL's other kwargs.
def _member_of(team: Team) -> dict[str, int]:
    return {"member_id": team.membership(Role.TRADER).pk}


def _invitation_of(team: Team) -> dict[str, int]:
    return {"invitation_id": InvitationFactory(organization=team.org).pk}


def _webhook_endpoint_of(team: Team) -> dict[str, int]:
    return {"endpoint_id": WebhookEndpointFactory(organization=team.org).pk}


def _webhook_delivery_of(team: Team) -> dict[str, int]:
    return {"delivery_id": WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=team.org)).pk}


def _api_key_of(team: Team) -> dict[str, int]:
    """A key of the viewer: the least role that may open key pages sees only its own keys."""
    from accounts.services.api_keys import api_key_create

    issued = api_key_create(
        organization=team.org, membership=team.membership(Role.VIEWER), name="walker", scopes=["read"]
    )
    return {"key_id": issued.api_key.pk}


def _exchange_account_of(team: Team) -> dict[str, int]:
    """A fresh paper exchange account: testable, with markets, and removable."""
    from trading.exchanges.credentials import ExchangeCredentials
    from trading.models import ExchangeAccount
    from trading.services.exchange_accounts import exchange_account_create

    account = exchange_account_create(
        organization=team.org,
        actor=team.owner,
        exchange_id="paper",
        label="walker paper",
        mode=ExchangeAccount.Mode.PAPER,
        credentials=ExchangeCredentials(kind="none"),
    )
    return {"account_id": account.pk}


_corpus_numbers = count(1)


def _corpus_of(team: Team) -> dict[str, int]:
    """A private pattern corpus (no market, so nothing is queued to index it)."""
    from patterns.services.corpora import corpus_create

    corpus = corpus_create(organization=team.org, user=team.owner, name=f"walker corpus {next(_corpus_numbers)}")
    return {"corpus_id": corpus.pk}


def _nothing(team: Team) -> dict[str, Any]:
    return {}


URL_FACTORIES: dict[str, Callable[[Team], dict[str, Any]]] = {
    "org_dashboard": _nothing,
    "org_settings": _nothing,
    "org_members": _nothing,
    "member_role": _member_of,
    "member_remove": _member_of,
    "org_leave": _nothing,
    "invitation_create": _nothing,
    "invitation_resend": _invitation_of,
    "invitation_revoke": _invitation_of,
    "org_transfer": _nothing,
    "org_delete": _nothing,
    "org_audit": _nothing,
    "org_audit_export": _nothing,
    "webhook_list": _nothing,
    "webhook_create": _nothing,
    "webhook_detail": _webhook_endpoint_of,
    "webhook_delete": _webhook_endpoint_of,
    "webhook_test": _webhook_endpoint_of,
    "webhook_rotate_secret": _webhook_endpoint_of,
    "webhook_deliveries": _nothing,
    "webhook_delivery_detail": _webhook_delivery_of,
    "webhook_redeliver": _webhook_delivery_of,
    "api_key_list": _nothing,
    "api_key_create": _nothing,
    "api_key_rotate": _api_key_of,
    "api_key_revoke": _api_key_of,
    "exchange_account_list": _nothing,
    "exchange_account_add": _nothing,
    "exchange_account_credentials": _exchange_account_of,
    "exchange_account_test": _exchange_account_of,
    "exchange_account_remove": _exchange_account_of,
    "exchange_account_markets": _exchange_account_of,
    "candle_chart": _nothing,
    "patterns_corpus_list": _nothing,
    "patterns_corpus_create": _nothing,
    "patterns_corpus_detail": _corpus_of,
    "patterns_corpus_status": _corpus_of,
    "patterns_corpus_upload": _corpus_of,
    "patterns_corpus_event_add": _corpus_of,
    "patterns_corpus_reindex": _corpus_of,
    "patterns_corpus_delete": _corpus_of,
    "patterns_search": _corpus_of,
    "patterns_analysis": _corpus_of,
    "patterns_walk_forward": _corpus_of,
    "patterns_chart": _corpus_of,
    "patterns_chart_data": _corpus_of,
}

ORG_URLS = org_urls()
# URLs that name an object besides the organization, and URLs some member may not open.
URLS_WITH_OBJECT_IDS = [url for url in ORG_URLS if url.route.count("<") > 1]
URLS_ABOVE_VIEWER = [url for url in ORG_URLS if declared_min_role(url.view) not in (None, Role.VIEWER)]


def test_the_walker_finds_the_organization_urls():
    assert {"org_dashboard", "org_members", "org_audit"} <= {url.name for url in ORG_URLS}
    assert {"member_role", "invitation_revoke"} <= {url.name for url in URLS_WITH_OBJECT_IDS}
    assert {"org_settings", "org_delete"} <= {url.name for url in URLS_ABOVE_VIEWER}


@pytest.mark.parametrize("url", ORG_URLS, ids=lambda url: url.name)
def test_every_organization_view_declares_a_minimum_role(url):
    assert declared_min_role(url.view) is not None, f"{url.name} declares no minimum role"


@pytest.mark.parametrize("url", ORG_URLS, ids=lambda url: url.name)
def test_every_organization_url_has_a_factory(url):
    assert url.name in URL_FACTORIES, f"add a factory for {url.name} to URL_FACTORIES"


def _url(url: OrgUrl, slug: str, kwargs: dict[str, Any]) -> str:
    return reverse(url.name, kwargs={"org_slug": slug, **kwargs})


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("url", ORG_URLS, ids=lambda url: url.name)
def test_a_non_member_gets_404(url, method, team, outsider, client_for):
    path = _url(url, team.org.slug, URL_FACTORIES[url.name](team))
    response = getattr(client_for(outsider), method)(path)
    assert response.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("url", ORG_URLS, ids=lambda url: url.name)
def test_an_unknown_slug_is_404(url, team, client_for):
    path = _url(url, "no-such-org", URL_FACTORIES[url.name](team))
    assert client_for(team.owner).get(path).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("url", URLS_WITH_OBJECT_IDS, ids=lambda url: url.name)
def test_own_slug_with_another_organizations_ids_is_404(url, method, team, other_team, client_for):
    foreign_kwargs = URL_FACTORIES[url.name](other_team)
    client = client_for(team.owner)
    own_status = getattr(client, method)(_url(url, team.org.slug, URL_FACTORIES[url.name](team))).status_code
    response = getattr(client, method)(_url(url, team.org.slug, foreign_kwargs))
    # A method the view never allows is refused alike for every id, revealing nothing.
    assert response.status_code == (405 if own_status == 405 else 404)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("url", URLS_ABOVE_VIEWER, ids=lambda url: url.name)
def test_a_member_below_the_minimum_role_gets_403(url, method, team, client_for):
    minimum = declared_min_role(url.view)
    lower = [role for role in Role if role_rank(role) < role_rank(minimum)]
    kwargs = URL_FACTORIES[url.name](team)
    for role in lower:
        response = getattr(client_for(team.user(role)), method)(_url(url, team.org.slug, kwargs))
        assert response.status_code == 403, f"{role} got {response.status_code}"


@pytest.mark.django_db
@pytest.mark.parametrize("url", ORG_URLS, ids=lambda url: url.name)
def test_a_member_with_the_role_gets_through(url, team, client_for):
    minimum = declared_min_role(url.view)
    response = client_for(team.user(minimum)).get(_url(url, team.org.slug, URL_FACTORIES[url.name](team)))
    # 405: POST-only actions; 302: reauthentication before sensitive pages.
    assert response.status_code in (200, 302, 405)


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_sign_in(team, client):
    response = client.get(reverse("org_dashboard", kwargs={"org_slug": team.org.slug}))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.django_db
def test_a_deleted_organization_is_404_for_its_members(team, client_for):
    from django.utils import timezone

    team.org.deleted_at = timezone.now()
    team.org.save()
    assert client_for(team.owner).get(reverse("org_dashboard", kwargs={"org_slug": team.org.slug})).status_code == 404


# --- an actor in both organizations; ids in paths, query strings and bodies ---------------
# The riskiest caller is a member of both organizations: a lookup scoped by *user* instead of
# by the organization in the URL would find the other organization's rows for them.


def _member_of_both(team: Team, other_team: Team) -> Any:
    from accounts.models import Membership

    Membership.objects.create(organization=other_team.org, user=team.owner, role=Role.OWNER)
    return team.owner


def _reauthenticated(client_for, user) -> Any:
    from accounts.tests.factories import PASSWORD

    client = client_for(user)
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("url", URLS_WITH_OBJECT_IDS, ids=lambda url: url.name)
def test_own_slug_with_another_organizations_ids_is_404_for_a_member_of_both(url, method, team, other_team, client_for):
    client = _reauthenticated(client_for, _member_of_both(team, other_team))
    own_status = getattr(client, method)(_url(url, team.org.slug, URL_FACTORIES[url.name](team))).status_code
    response = getattr(client, method)(_url(url, team.org.slug, URL_FACTORIES[url.name](other_team)))
    assert response.status_code == (405 if own_status == 405 else 404)


@pytest.mark.django_db
def test_transferring_ownership_to_another_organizations_member_changes_nothing(team, other_team, client_for):
    """The new owner is a membership id in the body: organization B's, for an owner of both,
    is refused like an id that does not exist, and neither organization's owners change."""
    from accounts.models import Membership

    client = _reauthenticated(client_for, _member_of_both(team, other_team))
    path = _url(next(url for url in ORG_URLS if url.name == "org_transfer"), team.org.slug, {})
    foreign = other_team.membership(Role.ADMIN).pk
    before = {
        org.pk: set(Membership.all_objects.filter(organization=org, role=Role.OWNER))
        for org in (team.org, other_team.org)
    }

    foreign_answer = client.post(path, {"member": foreign})
    missing_answer = client.post(path, {"member": 987654321})
    assert foreign_answer.status_code == missing_answer.status_code == 200  # the form again, with its error
    assert "not one of the available choices" in foreign_answer.content.decode()
    after = {
        org.pk: set(Membership.all_objects.filter(organization=org, role=Role.OWNER))
        for org in (team.org, other_team.org)
    }
    assert after == before
    # The field is honoured (so this test can fail): A's own admin can be made owner.
    assert client.post(path, {"member": team.membership(Role.ADMIN).pk}).status_code == 302
    assert Membership.all_objects.get(pk=team.membership(Role.ADMIN).pk).role == Role.OWNER


@pytest.mark.django_db
def test_filtering_deliveries_by_another_organizations_endpoint_shows_none_of_its(team, other_team, client_for):
    client = client_for(_member_of_both(team, other_team))
    path = _url(next(url for url in ORG_URLS if url.name == "webhook_deliveries"), team.org.slug, {})
    own = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=team.org)).endpoint
    foreign = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=other_team.org)).endpoint

    foreign_answer = client.get(path, {"endpoint": foreign.pk})
    missing_answer = client.get(path, {"endpoint": 987654321})
    assert foreign_answer.status_code == missing_answer.status_code == 200
    assert foreign.url not in foreign_answer.content.decode()
    assert own.url in client.get(path, {"endpoint": own.pk}).content.decode()
