"""What every pattern page needs: the corpus (visible or own, else 404), what the member may
do with it, and its coverage drawn as bars."""

from __future__ import annotations

from datetime import date

from django.http import Http404, HttpRequest

from accounts.roles import Role, role_at_least
from asterweb.errors import NotFoundError
from patterns.models import Corpus
from patterns.selectors import corpus_get, corpus_get_own
from patterns.services.search import search_quota_status


def visible_corpus(request: HttpRequest, corpus_id: int) -> Corpus:
    try:
        return corpus_get(request.organization, corpus_id)
    except NotFoundError as error:
        raise Http404(error.detail) from None


def own_corpus(request: HttpRequest, corpus_id: int) -> Corpus:
    try:
        return corpus_get_own(request.organization, corpus_id)
    except NotFoundError as error:
        raise Http404(error.detail) from None


def member_can(request: HttpRequest, role: Role) -> bool:
    return request.membership is not None and role_at_least(request.membership.role, role)


def _lane(label: str, first: date | None, last: date | None, span_from: date, span_days: int) -> dict:
    if first is None or last is None:
        return {"label": label, "present": False}
    x = 100 * (first - span_from).days / span_days
    width = max(0.4, 100 * ((last - first).days + 1) / span_days)
    return {"label": label, "present": True, "from": first, "to": last, "x": round(x, 3), "width": round(width, 3)}


def coverage(corpus: Corpus) -> dict:
    """The corpus' day span, and where in it news and prices exist, as SVG percentages."""
    if corpus.days_from is None or corpus.days_to is None:
        return {"indexed": False}
    span_days = (corpus.days_to - corpus.days_from).days + 1
    return {
        "indexed": True,
        "lanes": [
            _lane("Days", corpus.days_from, corpus.days_to, corpus.days_from, span_days),
            _lane("News", corpus.news_from, corpus.news_to, corpus.days_from, span_days),
            _lane("Prices", corpus.market_from, corpus.market_to, corpus.days_from, span_days),
        ],
    }


def corpus_context(request: HttpRequest, corpus: Corpus, tab: str) -> dict:
    """The header and tabs every per-corpus page shares."""
    return {
        "corpus": corpus,
        "coverage": coverage(corpus),
        "tab": tab,
        "can_edit": not corpus.is_public and member_can(request, Role.TRADER),
        "can_delete": not corpus.is_public and member_can(request, Role.ADMIN),
    }


def quota_context(request: HttpRequest) -> dict:
    return {"quota": search_quota_status(request.organization)}
