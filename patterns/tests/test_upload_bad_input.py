"""Uploads that used to be 500s are 400s that say what is wrong, on the page and through the
API: NUL bytes (a UTF-16 or binary file), a CSV field longer than the csv module's 131,072
characters (usually a quote never closed), and JSON nested past the recursion limit. Nothing
is stored."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.tests.api_helpers import issue_key, key_client
from patterns.models import Headline
from patterns.services.corpora import corpus_create

pytestmark = pytest.mark.django_db

CSV_FIELD_LIMIT = 131_072  # the csv module's default field_size_limit()

BAD_FILES = {
    "nul bytes": (
        "events.csv",
        b"date,headline\n2021-03-01,Rates up\n2021-03-02,Ra\x00tes\n",
        "NUL bytes (first on line 3)",
    ),
    "utf-16": ("events.csv", "date,headline\n2021-03-01,Rates up\n".encode("utf-16-le"), "NUL bytes (first on line 1)"),
    "long field": (
        "events.csv",
        b'date,headline\n2021-03-01,Rates up\n2021-03-02,"' + b"x" * (CSV_FIELD_LIMIT + 1) + b"\n",
        "Line 3 cannot be read: field larger than field limit (131072)",
    ),
    "deep json": ("events.json", b"[" * 100_000 + b"]" * 100_000, "nested more than"),
    "nul in json": ("events.json", b'[{"date": "2021-03-01", "headline": "Rates\\u0000up"}]', "Null characters"),
}


@pytest.fixture
def private(team):
    return corpus_create(organization=team.org, user=team.owner, name="Desk notes")


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_on_the_upload_page_is_a_400_with_the_reason(team, private, client_for, case):
    name, content, reason = BAD_FILES[case]
    url = reverse("patterns_corpus_upload", kwargs={"org_slug": team.org.slug, "corpus_id": private.pk})
    response = client_for(team.owner).post(url, {"file": SimpleUploadedFile(name, content)})
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not Headline.objects.filter(corpus=private).exists()


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_through_the_api_is_a_400_with_the_reason(team, private, case):
    name, content, reason = BAD_FILES[case]
    client = key_client(issue_key(team.org, team.owner))
    path = f"/api/v1/orgs/{team.org.slug}/corpora/{private.pk}/headlines/"
    response = client.post(path, {"file": SimpleUploadedFile(name, content)})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "upload_rejected" and reason in body["detail"]
    assert not Headline.objects.filter(corpus=private).exists()


def test_a_field_of_exactly_the_csv_limit_is_read_and_rejected_as_a_row(team, private, client_for):
    """The limit is the csv module's; a field at it is read, and the row is judged on its own."""
    content = b"date,headline\n2021-03-01,Rates up\n2021-03-02," + b"x" * CSV_FIELD_LIMIT + b"\n"
    url = reverse("patterns_corpus_upload", kwargs={"org_slug": team.org.slug, "corpus_id": private.pk})
    response = client_for(team.owner).post(url, {"file": SimpleUploadedFile("events.csv", content)})
    assert response.status_code == 200
    assert Headline.objects.filter(corpus=private).count() == 1  # the long headline is over 1,000 characters
