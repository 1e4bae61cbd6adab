"""Bodies that used to be 500s are 400s with a message, on every API operation: JSON nested
too deeply (past the recursion limit) and NUL characters (PostgreSQL cannot store them), in
values and in dictionary keys that no serializer field validates."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.tests.api_helpers import assert_error, issue_key, key_client
from asterweb.parsers import MAX_JSON_DEPTH
from patterns.services.corpora import corpus_create

pytestmark = pytest.mark.django_db


def nested(depth: int) -> str:
    """A JSON value ``depth`` levels deep: [[[...[]...]]]."""
    return "[" * depth + "]" * depth


@pytest.fixture
def api(team):
    return key_client(issue_key(team.org, team.owner))


@pytest.fixture
def paths(team):
    corpus = corpus_create(organization=team.org, user=team.owner, name="Desk notes")
    base = f"/api/v1/orgs/{team.org.slug}"
    return {
        "organization": ("patch", reverse("organization-detail", kwargs={"org_slug": team.org.slug})),
        "api keys": ("post", reverse("api-key-list", kwargs={"org_slug": team.org.slug})),
        "search": ("post", f"{base}/corpora/{corpus.pk}/search/"),
        "headlines": ("post", f"{base}/corpora/{corpus.pk}/headlines/"),
    }


def send(client, method: str, path: str, raw: str):
    return getattr(client, method)(path, raw, content_type="application/json")


@pytest.mark.parametrize("operation", ["organization", "api keys", "search", "headlines"])
def test_json_nested_past_the_recursion_limit_is_a_400(api, paths, operation):
    method, path = paths[operation]
    body = assert_error(send(api, method, path, '{"name": ' + nested(100_000) + "}"), 400, "parse_error")
    assert "nested" in body["detail"]


@pytest.mark.parametrize("operation", ["organization", "search"])
def test_json_nested_deeper_than_the_limit_is_a_400(api, paths, operation):
    method, path = paths[operation]
    # The object is level 1, so the value at "name" may be MAX_JSON_DEPTH - 1 deep.
    body = assert_error(send(api, method, path, '{"name": ' + nested(MAX_JSON_DEPTH) + "}"), 400, "parse_error")
    assert f"{MAX_JSON_DEPTH} levels" in body["detail"]


def test_json_within_the_depth_limit_reaches_the_fields(api, paths):
    method, path = paths["organization"]
    body = assert_error(send(api, method, path, '{"name": ' + nested(MAX_JSON_DEPTH - 1) + "}"), 400, "invalid")
    assert list(body["fields"]) == ["name"]  # the field's own message: not a string


def test_a_nul_in_a_dictionary_key_is_a_400_naming_it(api, paths):
    method, path = paths["search"]
    body = assert_error(send(api, method, path, '{"filters": {"signs": {"su\\u0000n": "aries"}}}'), 400, "invalid")
    assert list(body["fields"]) == ["filters.signs.su\x00n"]


def test_a_nul_in_a_nested_value_is_a_400_naming_the_field(api, paths):
    method, path = paths["headlines"]
    raw = '{"headlines": [{"day": "2021-03-01", "text": "Rates\\u0000up"}]}'
    body = assert_error(send(api, method, path, raw), 400, "invalid")
    assert body["fields"] == {"headlines.0.text": ["Null characters are not allowed."]}


def test_brackets_inside_strings_do_not_count_as_nesting(api, paths):
    method, path = paths["organization"]
    response = send(api, method, path, '{"name": "' + "[{" * 40 + '"}')
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "[{" * 40
