"""The only ways into corpora for tenant code: a corpus is visible to an organization when it
is the organization's own, or public and public corpora are enabled in this deployment."""

from __future__ import annotations

from django.conf import settings
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet

from accounts.models import Organization
from asterweb.errors import NotFoundError
from patterns.models import Corpus, Headline


def public_corpora_enabled() -> bool:
    return bool(getattr(settings, "PATTERNS_PUBLIC_CORPORA", False))


def corpora_visible(organization: Organization) -> QuerySet[Corpus]:
    """Corpora ``organization`` may search: its own, plus the public ones when enabled."""
    if organization is None or organization.pk is None:
        raise ValueError("corpora_visible needs a saved organization")
    return Corpus.objects.visible_to(organization, public=public_corpora_enabled()).order_by("organization_id", "name")


def corpus_get(organization: Organization, corpus_id: int | str) -> Corpus:
    """One visible corpus, or ``NotFoundError`` (never revealing another tenant's corpus)."""
    try:
        return corpora_visible(organization).get(pk=int(corpus_id))
    except (Corpus.DoesNotExist, ValueError, TypeError):
        raise NotFoundError("No such corpus.") from None


def corpus_get_own(organization: Organization, corpus_id: int | str) -> Corpus:
    """A private corpus of ``organization`` (public corpora cannot be edited by tenants)."""
    corpus = corpus_get(organization, corpus_id)
    if corpus.organization_id != organization.pk:
        raise NotFoundError("No such private corpus: public corpora are read-only.")
    return corpus


def corpus_headlines(corpus: Corpus, *, day=None) -> QuerySet[Headline]:
    queryset = Headline.objects.filter(corpus=corpus).order_by("-day", "id")
    if day is not None:
        queryset = queryset.filter(day=day)
    return queryset.defer("vector").annotate(
        has_vector=ExpressionWrapper(Q(vector__isnull=False), output_field=BooleanField())
    )
