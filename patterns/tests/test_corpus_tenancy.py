"""Corpora, their days and headlines are public or one organization's: the default manager
answers only visible_to(org) (public or own) and for_org(org) (own), and raises otherwise; a system
check fails any model with an organization foreign key that is neither tenant nor tenant-or-public."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from django.db import models
from django.test.utils import isolate_apps

from accounts import checks
from accounts.models import Organization
from accounts.tenancy import SharedModel, UnscopedQueryError
from patterns.models import Corpus, DayVector, Headline

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpora(team, other_team):
    made = {
        "public": Corpus.all_objects.create(organization=None, slug="test-public", name="Public"),
        "mine": Corpus.all_objects.create(organization=team.org, slug="mine", name="Mine"),
        "theirs": Corpus.all_objects.create(organization=other_team.org, slug="theirs", name="Theirs"),
    }
    for name, corpus in made.items():
        Headline.all_objects.create(corpus=corpus, day=date(2024, 1, 2), text=f"headline of {name}")
    return made


@pytest.mark.parametrize("model", [Corpus, DayVector, Headline])
def test_an_unscoped_read_raises(model, corpora):
    for read in (lambda: list(model.objects.all()), model.objects.count, model.objects.exists):
        with pytest.raises(UnscopedQueryError, match="visible_to"):
            read()
    with pytest.raises(UnscopedQueryError):
        model.objects.filter(pk__gt=0).delete()


def test_visible_to_answers_public_and_own_and_for_org_own_only(team, corpora):
    # Public corpora other tests built (the shipped ones) are visible too: every public one counts.
    public = set(Corpus.all_objects.filter(organization=None))
    assert corpora["public"] in public
    assert set(Corpus.objects.visible_to(team.org)) == public | {corpora["mine"]}
    assert set(Corpus.objects.visible_to(team.org, public=False)) == {corpora["mine"]}
    assert set(Corpus.objects.for_org(team.org)) == {corpora["mine"]}
    texts = set(Headline.objects.visible_to(team.org).filter(day=date(2024, 1, 2)).values_list("text", flat=True))
    assert texts == {"headline of public", "headline of mine"}
    mine_and_theirs = [corpora["mine"], corpora["theirs"]]
    assert not DayVector.objects.visible_to(team.org).filter(corpus__in=mine_and_theirs).exists()  # scoped: it runs


def test_a_query_pinned_to_one_corpus_runs_as_its_related_manager_does(corpora):
    assert [h.text for h in corpora["theirs"].headlines.all()] == ["headline of theirs"]


def test_visible_to_needs_a_saved_organization(corpora):
    with pytest.raises(UnscopedQueryError, match="saved organization"):
        Corpus.objects.visible_to(Organization(name="unsaved", slug="unsaved"))


@isolate_apps("patterns")
def test_the_system_check_fails_a_model_with_an_organization_that_is_neither(monkeypatch):
    class LeakyNotes(SharedModel):
        organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")

        class Meta:
            app_label = "patterns"

    monkeypatch.setattr(checks, "apps", SimpleNamespace(get_models=lambda: [LeakyNotes, Corpus, DayVector, Headline]))
    errors = checks.check_models_with_an_organization_are_tenant_or_public()
    assert [(error.id, error.obj) for error in errors] == [("accounts.E002", LeakyNotes)]


def test_the_installed_models_pass_the_check():
    assert checks.check_models_with_an_organization_are_tenant_or_public() == []
