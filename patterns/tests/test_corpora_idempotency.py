"""Corpus and headline creates (OrganizationAPIView, not a viewset) honour Idempotency-Key."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.models import AuditEvent
from accounts.tests.api_helpers import issue_key, key_client
from patterns.models import Corpus, Headline
from patterns.services.corpora import corpus_create

REPLAYED = "Idempotent-Replayed"


def post(client: Client, path: str, body, key: str):
    return client.post(path, json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)


def corpora_url(org) -> str:
    return f"/api/v1/orgs/{org.slug}/corpora/"


@pytest.mark.django_db
def test_creating_a_corpus_twice_with_one_key_creates_it_once(team):
    client = key_client(issue_key(team.org, team.owner))
    first = post(client, corpora_url(team.org), {"name": "Desk notes"}, key="corpus-1")
    second = post(client, corpora_url(team.org), {"name": "Desk notes"}, key="corpus-1")
    assert first.status_code == second.status_code == 201
    assert second[REPLAYED] == "true" and second.json()["id"] == first.json()["id"]
    assert Corpus.objects.for_org(team.org).count() == 1


@pytest.mark.django_db
def test_adding_headlines_twice_with_one_key_adds_them_once(team):
    corpus = corpus_create(organization=team.org, user=team.owner, name="Desk notes")
    client = key_client(issue_key(team.org, team.owner))
    body = {"headlines": [{"day": "2021-03-01", "text": "Rates up"}, {"day": "2021-03-02", "text": "Rates down"}]}
    path = f"{corpora_url(team.org)}{corpus.pk}/headlines/"
    first = post(client, path, body, key="add-1")
    second = post(client, path, body, key="add-1")
    assert first.json()["inserted"] == 2
    assert second[REPLAYED] == "true" and second.json() == first.json()  # not "0 inserted, 2 duplicates"
    assert AuditEvent.objects.for_org(team.org).filter(action="patterns.headlines_uploaded").count() == 1
    assert Headline.objects.for_org(team.org).filter(corpus=corpus).count() == 2
