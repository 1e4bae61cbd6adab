"""Support staff read corpora, headlines and the astro table in the admin, and change nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.tests.factories import UserFactory
from accounts.tests.second_factor import client_with_second_factor
from patterns.models import Headline

pytestmark = pytest.mark.django_db


def test_support_reads_corpora_headlines_and_the_sky_without_changing_them(corpora):
    support = UserFactory(is_staff=True)
    support.groups.add(Group.objects.get(name="Support"))
    client = client_with_second_factor(support, reauthenticated=False)  # the admin needs a 2FA session
    listing = client.get(reverse("admin:patterns_corpus_changelist"))
    assert listing.status_code == 200 and corpora.crypto.name in listing.content.decode()
    page = client.get(reverse("admin:patterns_corpus_change", args=[corpora.crypto.pk]))
    assert page.status_code == 200 and str(corpora.crypto.headline_count) in page.content.decode()
    assert client.post(reverse("admin:patterns_corpus_change", args=[corpora.crypto.pk]), {}).status_code == 403
    headline = Headline.all_objects.filter(corpus=corpora.crypto).first()
    page = client.get(reverse("admin:patterns_headline_change", args=[headline.pk]))
    assert page.status_code == 200 and headline.text[:30] in page.content.decode()
    assert client.get(reverse("admin:patterns_astroday_changelist")).status_code == 200
    assert client.get(reverse("admin:patterns_corpus_delete", args=[corpora.crypto.pk])).status_code == 403


def test_support_lists_headlines_with_the_corpus_filter(corpora):
    """The headline list offers a filter by corpus: its choices span every organization's corpora."""
    support = UserFactory(is_staff=True)
    support.groups.add(Group.objects.get(name="Support"))
    client = client_with_second_factor(support, reauthenticated=False)
    listing = client.get(reverse("admin:patterns_headline_changelist"))
    assert listing.status_code == 200
    filtered = client.get(reverse("admin:patterns_headline_changelist"), {"corpus__id__exact": corpora.crypto.pk})
    assert filtered.status_code == 200
    assert corpora.crypto.name in listing.content.decode()
