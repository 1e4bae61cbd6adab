"""The search page: days like a text, a day and/or filters, with their headlines, sky and
forward returns; counted against the organization's daily quota and cached."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import org_view
from accounts.roles import Role
from asterweb.errors import ApplicationError
from patterns.forms import SearchForm, submitted
from patterns.services.search import QuotaExceeded, search_days
from patterns.views.common import corpus_context, quota_context, visible_corpus


@org_view(Role.VIEWER)
@require_GET
def corpus_search(request: HttpRequest, corpus_id: int) -> HttpResponse:
    corpus = visible_corpus(request, corpus_id)
    form = SearchForm(request.GET if submitted(SearchForm, request.GET) else None)
    result, quota_error, status = None, None, 200
    if form.is_bound:
        if form.is_valid():
            try:
                result = search_days(request.organization, corpus, form.search_request)
            except QuotaExceeded as error:
                quota_error, status = error, 429
            except ApplicationError as error:
                form.add_application_error(error)
        if form.errors:
            status = 400
    context = {
        **corpus_context(request, corpus, "search"),
        **quota_context(request),
        "form": form,
        "result": result,
        "quota_error": quota_error,
        "query": request.GET.urlencode(),
    }
    response = render(request, "patterns/search.html", context, status=status)
    if quota_error is not None:
        response["Retry-After"] = str(quota_error.retry_after)
    return response
