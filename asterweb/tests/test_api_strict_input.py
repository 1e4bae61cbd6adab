"""Under /api/ every answer is JSON in the error shape, even with DEBUG on; typed query
parameters and JSON bodies refuse values of the wrong type instead of coercing or ignoring
them; and every operation that takes input documents the 400 it answers bad input with."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from accounts.tests.api_helpers import assert_error, issue_key, key_client
from accounts.webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db

TEST_URLCONF = "accounts.tests.api_helpers"


@pytest.fixture
def api(team):
    return key_client(issue_key(team.org, team.owner))


def org_path(team, name: str, **kwargs) -> str:
    return reverse(name, kwargs={"org_slug": team.org.slug, **kwargs})


# --- JSON errors with DEBUG on ------------------------------------------------------------


@override_settings(DEBUG=True)
def test_a_non_integer_id_is_a_json_404_with_debug_on(team, api):
    response = api.get(f"/api/v1/orgs/{team.org.slug}/corpora/not-a-number/")
    assert response["Content-Type"] == "application/json"
    assert_error(response, 404, "not_found")


@override_settings(DEBUG=True)
def test_an_unknown_api_path_is_a_json_404_with_debug_on(api):
    assert_error(api.get("/api/v1/no-such-thing/"), 404, "not_found")


@override_settings(DEBUG=True, ROOT_URLCONF=TEST_URLCONF)
def test_an_unexpected_exception_is_a_json_500_with_debug_on(team):
    client = Client(raise_request_exception=False)
    client.force_login(team.owner)
    response = client.get("/api/v1/explode")
    assert response["Content-Type"] == "application/json"
    assert "an unexpected bug" not in response.content.decode()  # no traceback page
    assert_error(response, 500, "server_error")


@override_settings(DEBUG=True)
def test_pages_keep_djangos_debug_404_outside_the_api(client_for, team):
    response = client_for(team.owner).get("/o/no-such-page-anywhere/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


# --- typed query parameters ---------------------------------------------------------------


@pytest.mark.parametrize("value", ["null", "", "0", "-1", "ten", "1.5", "²"])
def test_page_size_that_is_not_a_positive_whole_number_is_a_400(team, api, value):
    response = api.get(org_path(team, "member-list"), {"page_size": value})
    assert list(assert_error(response, 400, "invalid")["fields"]) == ["page_size"]


def test_a_page_size_within_range_is_honoured(team, api):
    assert len(api.get(org_path(team, "member-list"), {"page_size": "2"}).json()["results"]) == 2


@pytest.mark.parametrize("value", ["null", "", "1", "yes", "True"])
def test_a_boolean_filter_takes_only_true_or_false(team, api, value):
    response = api.get(org_path(team, "webhook-endpoint-list"), {"active": value})
    assert list(assert_error(response, 400, "invalid")["fields"]) == ["active"]


def test_a_boolean_filter_filters(team, api):
    endpoint = webhook_endpoint_create(organization=team.org, actor=team.owner, url="http://127.0.0.1:9/hook").endpoint
    assert [
        row["id"] for row in api.get(org_path(team, "webhook-endpoint-list"), {"active": "true"}).json()["results"]
    ] == [endpoint.pk]
    assert api.get(org_path(team, "webhook-endpoint-list"), {"active": "false"}).json()["results"] == []


@pytest.mark.parametrize("name", ["until", "since"])
def test_an_empty_typed_filter_is_a_400_not_ignored(team, api, name):
    response = api.get(org_path(team, "audit-event-list"), {name: ""})
    assert list(assert_error(response, 400, "invalid")["fields"]) == [name]


# --- JSON types in bodies -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body,field",
    [
        ({"require_2fa": 0}, "require_2fa"),
        ({"require_2fa": "true"}, "require_2fa"),
        ({"name": 0}, "name"),
    ],
)
def test_a_body_value_of_the_wrong_json_type_is_a_400(team, api, body, field):
    from accounts.models import Organization

    response = api.patch(org_path(team, "organization-detail"), body, content_type="application/json")
    assert field in assert_error(response, 400, "invalid")["fields"]
    org = Organization.objects.get(pk=team.org.pk)
    assert (org.name, org.require_2fa) == (team.org.name, team.org.require_2fa)


def test_a_number_is_not_a_string_in_a_nested_body(team, api):
    from patterns.services.corpora import corpus_create

    corpus = corpus_create(organization=team.org, user=team.owner, name="Desk notes")
    path = f"/api/v1/orgs/{team.org.slug}/corpora/{corpus.pk}/headlines/"
    response = api.post(path, {"headlines": [{"day": "2021-03-01", "text": 12345}]}, content_type="application/json")
    assert assert_error(response, 400, "invalid")["fields"] == {"headlines.0.text": ["Must be a string."]}


def test_every_wrong_field_is_named_in_one_answer(team, api):
    response = api.post(org_path(team, "api-key-list"), {"name": 7, "scopes": "read"}, content_type="application/json")
    assert {"name", "scopes"} <= set(assert_error(response, 400, "invalid")["fields"])


# --- the schema lists the 400 -------------------------------------------------------------


def test_every_operation_that_takes_input_documents_a_400():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    takes_input = [
        (method.upper(), route, operation)
        for route, operations in schema["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", []))
    ]
    assert len(takes_input) > 20
    missing = [f"{method} {route}" for method, route, operation in takes_input if "400" not in operation["responses"]]
    assert missing == []
    listing = schema["paths"]["/api/v1/orgs/{org_slug}/api-keys/"]["get"]["responses"]["400"]
    assert listing["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
