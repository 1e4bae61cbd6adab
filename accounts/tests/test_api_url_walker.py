"""Walks every URL under /api/v1/orgs/<org_slug>/ (ARCHITECTURE.md rules 2 and 3), with a
browser session and with an API key: organization A's slug with organization B's object ids
is a 404, so are a non-member, a key of another organization and an unknown slug; a member
below the action's minimum role, or a key without its scope, is a 403; demoting a key's
owner demotes the key; the right role and scope get through. Roles and scopes are read
from the view classes. A new API URL without a factory below fails this test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import ApiKey, Membership
from accounts.roles import Role
from accounts.services.audit import audit_record
from accounts.tests.api_helpers import (
    ALL_SCOPES,
    SCOPES_OF_ROLE,
    assert_error,
    call,
    issue_key,
    key_client,
    reauthenticated_client,
    roles_below,
)
from accounts.tests.factories import InvitationFactory, MembershipFactory, UserFactory
from accounts.webhooks.services import webhook_endpoint_create, webhook_send_test_event
from conftest import Team
from patterns.services.corpora import corpus_create
from trading.exchanges.credentials import ExchangeCredentials
from trading.models import ExchangeAccount
from trading.services.exchange_accounts import exchange_account_create

API_ORG_PREFIX = "api/v1/orgs/<slug:org_slug>/"
SAFE = ("get", "head", "options")


@dataclass(frozen=True)
class Operation:
    """One (URL name, HTTP method) of the organization API and what it requires."""

    name: str
    route: str
    method: str
    action: str
    view_class: type

    @property
    def has_object_ids(self) -> bool:
        return "(?P<" in self.route or self.route.count("<") > 1

    @property
    def min_role(self) -> str:
        return self.view_class.required_roles.get(self.action)

    @property
    def scope(self) -> str | None:
        declared = self.view_class.required_scopes.get(self.action)
        return declared if declared is not None else ("read" if self.method in SAFE else None)

    def __str__(self) -> str:
        return f"{self.name}-{self.method}"


def _walk(patterns: list, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _methods(pattern: URLPattern) -> dict[str, str]:
    """HTTP method -> action name: a viewset's router mapping, or an APIView's handlers."""
    callback = pattern.callback
    actions = getattr(callback, "actions", None)
    if actions:
        return {method: action for method, action in actions.items() if method not in ("head", "options")}
    view_class = callback.cls
    return {
        method: method
        for method in view_class.http_method_names
        if method not in ("head", "options") and hasattr(view_class, method)
    }


def api_org_patterns() -> list[tuple[str, URLPattern]]:
    every = _walk(get_resolver().url_patterns)
    return [(route, pattern) for route, pattern in every if route.startswith(API_ORG_PREFIX)]


def api_org_operations() -> list[Operation]:
    return [
        Operation(name=pattern.name, route=route, method=method, action=action, view_class=pattern.callback.cls)
        for route, pattern in api_org_patterns()
        for method, action in _methods(pattern).items()
    ]


# --- one factory per URL name -------------------------------------------------------------
# Given the team whose objects to point at and the user who will act, the URL's other kwargs:
# fresh objects the actor may act on, so a mutating request can be repeated.


def _nothing(team: Team, actor: Any) -> dict[str, Any]:
    return {}


def _member_of(team: Team, actor: Any) -> dict[str, Any]:
    return {"pk": MembershipFactory(organization=team.org, role=Role.TRADER).pk}


def _invitation_of(team: Team, actor: Any) -> dict[str, Any]:
    return {"pk": InvitationFactory(organization=team.org, role=Role.TRADER).pk}


def _audit_event_of(team: Team, actor: Any) -> dict[str, Any]:
    return {"pk": audit_record(action="walker.tested", organization=team.org, actor=team.owner).pk}


def _api_key_of(team: Team, actor: Any) -> dict[str, Any]:
    """The actor's newest key here: the one a key-authenticated walker request uses (a key may
    rotate or revoke itself; other keys need the admin scope). Else a new read-only key of the
    actor (a viewer may rotate or revoke it), or of the owner for a non-member."""
    holder = actor if Membership.objects.for_org(team.org).filter(user=actor).exists() else team.owner
    newest = ApiKey.objects.for_org(team.org).filter(user=holder, revoked_at__isnull=True).order_by("-pk").first()
    if newest is not None:
        return {"pk": newest.pk}
    return {"pk": issue_key(team.org, holder, scopes=["read"], name="walker target").api_key.pk}


def _webhook_endpoint_of(team: Team, actor: Any) -> dict[str, Any]:
    issued = webhook_endpoint_create(organization=team.org, actor=team.owner, url=WEBHOOK_URL)
    return {"pk": issued.endpoint.pk}


def _webhook_delivery_of(team: Team, actor: Any) -> dict[str, Any]:
    endpoint = webhook_endpoint_create(organization=team.org, actor=team.owner, url=WEBHOOK_URL).endpoint
    return {"pk": webhook_send_test_event(organization=team.org, actor=team.owner, endpoint=endpoint).pk}


def _paper_account_of(team: Team, actor: Any) -> dict[str, Any]:
    """A fresh paper exchange account: testable and removable without any outside service."""
    account = exchange_account_create(
        organization=team.org,
        actor=team.owner,
        exchange_id="paper",
        label=f"walker {next(_counter)}",
        mode=ExchangeAccount.Mode.PAPER,
        credentials=ExchangeCredentials(kind="none"),
    )
    return {"pk": account.pk}


def _private_corpus_of(team: Team, actor: Any) -> dict[str, Any]:
    """A fresh private corpus (no market, so nothing is indexed) of the team's organization."""
    corpus = corpus_create(organization=team.org, user=team.owner, name=f"walker corpus {next(_counter)}")
    return {"corpus_id": corpus.pk}


# Loopback is allow-listed for webhooks in test settings; nothing is sent (deliveries go
# out after commit, and these tests never commit).
WEBHOOK_URL = "http://127.0.0.1:9/walker-hook"

_counter = iter(range(10**9))

URL_FACTORIES: dict[str, Callable[[Team, Any], dict[str, Any]]] = {
    "organization-detail": _nothing,
    "member-list": _nothing,
    "member-detail": _member_of,
    "invitation-list": _nothing,
    "invitation-detail": _invitation_of,
    "invitation-resend": _invitation_of,
    "audit-event-list": _nothing,
    "audit-event-detail": _audit_event_of,
    "event-list": _nothing,
    "api-key-list": _nothing,
    "api-key-detail": _api_key_of,
    "api-key-rotate": _api_key_of,
    "webhook-endpoint-list": _nothing,
    "webhook-endpoint-detail": _webhook_endpoint_of,
    "webhook-endpoint-test": _webhook_endpoint_of,
    "webhook-endpoint-rotate-secret": _webhook_endpoint_of,
    "webhook-delivery-list": _nothing,
    "webhook-delivery-detail": _webhook_delivery_of,
    "webhook-delivery-redeliver": _webhook_delivery_of,
    "webhook-event-type-list": _nothing,
    "exchange-account-list": _nothing,
    "exchange-account-detail": _paper_account_of,
    "exchange-account-credentials": _paper_account_of,
    "exchange-account-test": _paper_account_of,
    "exchange-account-markets": _paper_account_of,
    "candle-series-list": _nothing,
    "candle-list": _nothing,
    "corpus-list": _nothing,
    "corpus-detail": _private_corpus_of,
    "corpus-reindex": _private_corpus_of,
    "corpus-headlines": _private_corpus_of,
    "corpus-search": _private_corpus_of,
    "corpus-headline-search": _private_corpus_of,
    "corpus-analysis": _private_corpus_of,
    "corpus-walk-forward": _private_corpus_of,
    "corpus-signal": _private_corpus_of,
    "corpus-aspect-heatmap": _private_corpus_of,
    "patterns-sky": _nothing,
    "patterns-quota": _nothing,
}

# A valid body for the operations that take one (everything else sends {}).
VALID_BODIES: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
    ("organization-detail", "patch"): lambda: {"name": "Renamed by the walker"},
    ("member-detail", "patch"): lambda: {"role": Role.VIEWER},
    ("invitation-list", "post"): lambda: {"email": f"walker{next(_counter)}@example.com", "role": Role.VIEWER},
    ("api-key-list", "post"): lambda: {"name": "walker", "scopes": ["read"]},
    ("webhook-endpoint-list", "post"): lambda: {"url": WEBHOOK_URL},
    ("webhook-endpoint-detail", "patch"): lambda: {"description": "changed by the walker"},
    ("corpus-list", "post"): lambda: {"name": f"walker corpus {next(_counter)}"},
    ("corpus-headlines", "post"): lambda: {"headlines": [{"day": "2020-01-02", "text": "Walker adds a headline"}]},
    ("corpus-search", "post"): lambda: {"text": "central banks raise interest rates"},
    ("corpus-headline-search", "post"): lambda: {"text": "central banks raise interest rates"},
    ("corpus-analysis", "post"): lambda: {"text": "central banks raise interest rates"},
    ("corpus-walk-forward", "post"): lambda: {"start": "2020-01-01", "end": "2020-12-31"},
    ("exchange-account-list", "post"): lambda: {
        "label": f"walker live {next(_counter)}",
        "exchange_id": "aster",
        "credential_kind": "agent_key",
        "private_key": "0x" + "1" * 64,
        "wallet_address": "0x" + "2" * 40,
    },
}

OPERATIONS = api_org_operations()
OPERATIONS_WITH_IDS = [op for op in OPERATIONS if op.has_object_ids]
OPERATIONS_ABOVE_VIEWER = [op for op in OPERATIONS if op.min_role not in (None, Role.VIEWER)]
UNSAFE_OPERATIONS = [op for op in OPERATIONS if op.method not in SAFE]
OPERATIONS_BEYOND_READ = [op for op in OPERATIONS if op.scope not in (None, "read")]
# Operations a key can lose by its owner's demotion (viewer with read is the floor).
DEMOTABLE_OPERATIONS = [op for op in OPERATIONS if op.min_role != Role.VIEWER or op.scope != "read"]
AUTHS = ["session", "api_key"]


def _path(op: Operation, slug: str, kwargs: dict[str, Any]) -> str:
    return reverse(op.name, kwargs={"org_slug": slug, **kwargs})


def _client(auth: str, team: Team, user: Any, scopes: list[str] | None = None) -> Client:
    if auth == "session":
        return reauthenticated_client(user)
    return key_client(issue_key(team.org, user, scopes=scopes))


def _request(op: Operation, client: Client, path: str) -> Any:
    body = VALID_BODIES.get((op.name, op.method), dict)()
    return call(client, op.method, path, body)


def _assert_gets_through(response: Any, who: str) -> None:
    assert response.status_code not in (401, 403, 404) and response.status_code < 500, (
        who,
        response.status_code,
        response.content[:300],
    )


# --- the walk itself ----------------------------------------------------------------------


def test_the_walker_finds_the_organization_api():
    names = {op.name for op in OPERATIONS}
    assert {"organization-detail", "member-list", "member-detail", "invitation-resend", "api-key-rotate"} <= names
    assert ("api-key-list", "post") in {(op.name, op.method) for op in OPERATIONS}
    assert {"member-detail", "audit-event-detail", "api-key-rotate"} <= {op.name for op in OPERATIONS_WITH_IDS}
    assert {"invitation-list", "audit-event-list"} <= {op.name for op in OPERATIONS_ABOVE_VIEWER}


@pytest.mark.parametrize("name", sorted({str(pattern.name) for _, pattern in api_org_patterns()}))
def test_every_organization_api_url_has_a_factory(name):
    assert name in URL_FACTORIES, f"add a factory for {name} to URL_FACTORIES"


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_every_operation_declares_its_minimum_role_and_scope(op):
    assert op.min_role in Role.values, f"{op.view_class.__name__} declares no required role for {op.action!r}"
    assert op.scope in ALL_SCOPES, f"{op.view_class.__name__} declares no required scope for {op.action!r}"


@pytest.mark.django_db
@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_a_non_member_gets_404(op, team, outsider, client_for):
    path = _path(op, team.org.slug, URL_FACTORIES[op.name](team, outsider))
    assert_error(_request(op, client_for(outsider), path), 404, "not_found")


@pytest.mark.django_db
@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_a_key_of_another_organization_gets_404(op, team, other_team):
    """Even the owner of both: a key only works in the organization it was made in."""
    Membership.objects.create(organization=other_team.org, user=team.owner, role=Role.OWNER)
    client = key_client(issue_key(other_team.org, team.owner))
    path = _path(op, team.org.slug, URL_FACTORIES[op.name](team, team.owner))
    assert_error(_request(op, client, path), 404, "not_found")


@pytest.mark.django_db
@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_an_unknown_slug_is_404(op, auth, team):
    path = _path(op, "no-such-org", URL_FACTORIES[op.name](team, team.owner))
    assert_error(_request(op, _client(auth, team, team.owner), path), 404, "not_found")


@pytest.mark.django_db
@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize("op", OPERATIONS_WITH_IDS, ids=str)
def test_own_slug_with_another_organizations_ids_is_404(op, auth, team, other_team):
    foreign_kwargs = URL_FACTORIES[op.name](other_team, other_team.owner)
    response = _request(op, _client(auth, team, team.owner), _path(op, team.org.slug, foreign_kwargs))
    assert_error(response, 404, "not_found")


@pytest.mark.django_db
@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize("op", OPERATIONS_ABOVE_VIEWER, ids=str)
def test_a_member_below_the_minimum_role_gets_403(op, auth, team):
    for role in roles_below(op.min_role):
        user = team.user(role)
        path = _path(op, team.org.slug, URL_FACTORIES[op.name](team, user))
        assert_error(_request(op, _client(auth, team, user), path), 403, "role_too_low")


@pytest.mark.django_db
@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_a_key_without_the_required_scope_gets_403(op, team):
    other_scopes = [scope for scope in ALL_SCOPES if scope != op.scope]
    client = key_client(issue_key(team.org, team.owner, scopes=other_scopes))
    path = _path(op, team.org.slug, URL_FACTORIES[op.name](team, team.owner))
    assert_error(_request(op, client, path), 403, "scope_missing")


@pytest.mark.django_db
@pytest.mark.parametrize("op", OPERATIONS_BEYOND_READ, ids=str)
def test_an_owners_read_only_key_cannot_write(op, team):
    client = key_client(issue_key(team.org, team.owner, scopes=["read"]))
    path = _path(op, team.org.slug, URL_FACTORIES[op.name](team, team.owner))
    assert_error(_request(op, client, path), 403, "scope_missing")


@pytest.mark.django_db
@pytest.mark.parametrize("op", DEMOTABLE_OPERATIONS, ids=str)
def test_a_key_whose_owner_was_demoted_loses_what_the_new_role_lacks(op, team):
    user = UserFactory()
    membership = Membership.objects.create(organization=team.org, user=user, role=op.min_role)
    client = key_client(issue_key(team.org, user, scopes=SCOPES_OF_ROLE[op.min_role]))
    _assert_gets_through(_request(op, client, _path(op, team.org.slug, URL_FACTORIES[op.name](team, user))), "before")

    demoted_to = roles_below(op.min_role)[-1] if op.min_role != Role.VIEWER else Role.VIEWER
    Membership.objects.for_org(team.org).filter(pk=membership.pk).update(role=demoted_to)
    response = _request(op, client, _path(op, team.org.slug, URL_FACTORIES[op.name](team, user)))
    assert_error(response, 403)
    assert response.json()["code"] in ("role_too_low", "scope_missing")


@pytest.mark.django_db
@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_a_member_with_the_role_gets_through_with_a_session(op, team, client_for):
    user = team.user(op.min_role)
    path = _path(op, team.org.slug, URL_FACTORIES[op.name](team, user))
    _assert_gets_through(_request(op, reauthenticated_client(user), path), f"{op.min_role} session")


@pytest.mark.django_db
@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_a_key_with_just_the_role_and_scope_gets_through(op, team):
    user = team.user(op.min_role)
    client = key_client(issue_key(team.org, user, scopes=[op.scope]))
    path = _path(op, team.org.slug, URL_FACTORIES[op.name](team, user))
    _assert_gets_through(_request(op, client, path), f"{op.min_role} key with {op.scope}")


@pytest.mark.django_db
@pytest.mark.parametrize("op", UNSAFE_OPERATIONS, ids=str)
def test_session_writes_need_the_csrf_token_but_key_writes_do_not(op, team):
    """The browser session is CSRF-protected; a bearer key (no cookie to ride) is not."""
    session = Client(enforce_csrf_checks=True)
    session.force_login(team.owner)
    path = _path(op, team.org.slug, URL_FACTORIES[op.name](team, team.owner))
    assert "CSRF" in assert_error(_request(op, session, path), 403)["detail"]

    keyed = key_client(issue_key(team.org, team.owner), enforce_csrf_checks=True)
    path = _path(op, team.org.slug, URL_FACTORIES[op.name](team, team.owner))
    _assert_gets_through(_request(op, keyed, path), "owner key without CSRF token")


# --- HEAD and OPTIONS: every organization URL lists them in http_method_names --------------
# HEAD is GET without a body where the URL has a GET, else 405; OPTIONS always answers.

URL_NAMES = sorted({op.name for op in OPERATIONS})
_ANY_OP_OF = {op.name: op for op in OPERATIONS}


def _allows(name: str, method: str) -> bool:
    return method == "options" or any(op.name == name and op.method == "get" for op in OPERATIONS)


def _raw_client(user: Any) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["head", "options"])
@pytest.mark.parametrize("name", URL_NAMES)
def test_head_and_options_answer_a_member_without_a_server_error(name, method, team):
    path = _path(_ANY_OP_OF[name], team.org.slug, URL_FACTORIES[name](team, team.owner))
    client = _raw_client(team.owner)
    response = getattr(client, method)(path)
    if not _allows(name, method):
        expected = 405
    elif method == "head":  # HEAD answers as GET would (a GET needing query parameters is a 400 without them)
        expected = client.get(path).status_code
    else:
        expected = 200
    assert response.status_code == expected, (response.status_code, response.content[:300])


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["head", "options"])
@pytest.mark.parametrize("name", URL_NAMES)
def test_head_and_options_are_404_for_a_non_member(name, method, team, outsider):
    path = _path(_ANY_OP_OF[name], team.org.slug, URL_FACTORIES[name](team, outsider))
    response = getattr(_raw_client(outsider), method)(path)
    # A method the URL never allows is refused alike for every organization, revealing nothing.
    expected = 404 if _allows(name, method) else 405
    assert response.status_code == expected, (response.status_code, response.content[:300])


@pytest.mark.django_db
def test_a_deleted_organization_is_404_for_its_members_and_their_keys(team, client_for):
    from django.utils import timezone

    issued = issue_key(team.org, team.owner)
    team.org.deleted_at = timezone.now()
    team.org.save()
    path = reverse("organization-detail", kwargs={"org_slug": team.org.slug})
    assert_error(client_for(team.owner).get(path), 404, "not_found")
    assert_error(key_client(issued).get(path), 401, "invalid_api_key")


# --- an actor in both organizations; ids in paths, query strings and bodies ---------------
# The riskiest caller is a member of both organizations: a lookup scoped by *user* instead of
# by the organization in the URL would find the other organization's rows for them.


def _member_of_both(team: Team, other_team: Team) -> Any:
    """team's owner, made an owner of other_team as well."""
    Membership.objects.create(organization=other_team.org, user=team.owner, role=Role.OWNER)
    return team.owner


@pytest.mark.django_db
@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize("op", OPERATIONS_WITH_IDS, ids=str)
def test_own_slug_with_another_organizations_ids_is_404_for_a_member_of_both(op, auth, team, other_team):
    actor = _member_of_both(team, other_team)
    foreign_kwargs = URL_FACTORIES[op.name](other_team, actor)
    response = _request(op, _client(auth, team, actor), _path(op, team.org.slug, foreign_kwargs))
    assert_error(response, 404, "not_found")


@dataclass(frozen=True)
class IdParameter:
    """An object id an operation takes in its query string or body (not in its path)."""

    name: str  # URL name
    method: str
    where: str  # "query" or "body"
    parameter: str
    make: Callable[[Team], str]  # an object of the team's organization the parameter can name

    def __str__(self) -> str:
        return f"{self.name}-{self.method}-{self.where}-{self.parameter}"


def _delivery_endpoint(team: Team) -> str:
    return str(_webhook_delivery(team).endpoint_id)


def _delivery_event(team: Team) -> str:
    return _webhook_delivery(team).event_id


def _webhook_delivery(team: Team) -> Any:
    from accounts.webhooks.models import WebhookDelivery

    return WebhookDelivery.objects.for_org(team.org).get(pk=_webhook_delivery_of(team, team.owner)["pk"])


ID_PARAMETERS = [
    IdParameter("webhook-delivery-list", "get", "query", "endpoint", _delivery_endpoint),
    IdParameter("webhook-delivery-list", "get", "query", "event", _delivery_event),
]
# Nonexistent values of the right form, to compare a foreign id's answer with.
NO_SUCH_ID = {"endpoint": "987654321", "event": "evt_doesnotexist000000000000"}
# Objects the API names: a query or body parameter called like one of these (or *_id) is an id.
OBJECT_NAMES = {"id", "member", "membership", "invitation", "key", "api_key", "endpoint", "delivery", "event"}
OBJECT_NAMES |= {"account", "exchange_account", "corpus", "headline", "series", "user", "organization"}
# Named like an id but naming no row: (URL name, parameter) -> what it is.
NOT_OBJECT_IDS = {
    ("exchange-account-list", "exchange_id"): "a CCXT exchange name, e.g. aster",
    ("exchange-account-list", "api_key"): "an exchange credential",
    ("exchange-account-credentials", "api_key"): "an exchange credential",
}


def _id_like(name: str) -> bool:
    return name in OBJECT_NAMES or name.endswith("_id")


def _schema_parameters() -> set[tuple[str, str, str, str]]:
    """(URL name, method, where, name) of every query and body parameter of the organization API."""
    from django.urls import resolve
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    found = set()
    for route, operations in schema["paths"].items():
        if not route.startswith("/api/v1/orgs/"):
            continue
        concrete = route.replace("{org_slug}", "x")
        for placeholder in ("{id}", "{corpus_id}"):
            concrete = concrete.replace(placeholder, "1")
        name = resolve(concrete).url_name
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    found.add((name, method, "query", parameter["name"]))
            for content in operation.get("requestBody", {}).get("content", {}).values():
                reference = content["schema"].get("$ref", "")
                for field in components.get(reference.rsplit("/", 1)[-1], {}).get("properties", {}):
                    found.add((name, method, "body", field))
    return found


def test_every_id_in_a_query_string_or_body_is_walked():
    """A new query or body parameter that names an object fails here until it is walked."""
    id_like = {
        entry for entry in _schema_parameters() if _id_like(entry[3]) and (entry[0], entry[3]) not in NOT_OBJECT_IDS
    }
    walked = {(p.name, p.method, p.where, p.parameter) for p in ID_PARAMETERS}
    assert id_like == walked, f"walk these in ID_PARAMETERS: {sorted(id_like - walked)}"


def _with_parameter(op: Operation, client: Client, param: IdParameter, value: str, team: Team) -> Any:
    path = _path(op, team.org.slug, URL_FACTORIES[op.name](team, team.owner))
    if param.where == "query":
        return client.get(path, {param.parameter: value})
    body = {**VALID_BODIES.get((op.name, op.method), dict)(), param.parameter: value}
    return call(client, op.method, path, body)


@pytest.mark.django_db
@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize("param", ID_PARAMETERS, ids=str)
def test_another_organizations_id_in_a_query_or_body_answers_as_a_missing_one(param, auth, team, other_team):
    """For a member of both: organization B's id under A's slug is answered exactly as an id
    that does not exist (nothing of B's shows, and nothing says it exists); A's own id works."""
    actor = _member_of_both(team, other_team)
    op = next(op for op in OPERATIONS if (op.name, op.method) == (param.name, param.method))
    client = _client(auth, team, actor)
    own, foreign = param.make(team), param.make(other_team)

    own_answer = _with_parameter(op, client, param, own, team)
    foreign_answer = _with_parameter(op, client, param, foreign, team)
    missing_answer = _with_parameter(op, client, param, NO_SUCH_ID[param.parameter], team)

    assert (foreign_answer.status_code, foreign_answer.json()) == (missing_answer.status_code, missing_answer.json())
    assert foreign not in foreign_answer.content.decode()
    # The parameter is honoured (so this test can fail): A's own id finds A's object.
    assert own_answer.status_code == 200 and own_answer.json() != missing_answer.json()
