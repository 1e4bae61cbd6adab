"""The analysis page (analogs against the baseline, histogram, similarity timeline, aspect
heatmap) and the walk-forward page. One submitted analysis or walk-forward counts as one
search against the daily quota, as in the API."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import org_view
from accounts.roles import Role
from asterweb.errors import ApplicationError
from patterns.forms import AnalysisForm, WalkForwardForm, submitted
from patterns.models import Corpus
from patterns.services import analysis
from patterns.services.search import QuotaExceeded, search_quota_use
from patterns.views.common import corpus_context, quota_context, visible_corpus
from patterns.views.figures import equity_series, heatmap_table, histogram_figure, timeline_series

WALK_FORWARD_DEFAULT_DAYS = 730


def _walk_forward_initial(corpus: Corpus) -> dict:
    if corpus.market_to is None:
        return {}
    start = max(corpus.market_from or corpus.market_to, corpus.market_to - timedelta(days=WALK_FORWARD_DEFAULT_DAYS))
    return {"start": start, "end": corpus.market_to}


def _respond(request: HttpRequest, template: str, context: dict, status: int, quota_error) -> HttpResponse:
    response = render(request, template, {**context, **quota_context(request)}, status=status)
    if quota_error is not None:
        response["Retry-After"] = str(quota_error.retry_after)
    return response


def _analyse(corpus: Corpus, form: AnalysisForm) -> dict:
    query = form.search_request
    data = form.cleaned_data
    found = analysis.analyse(corpus, query, data["horizon"], data["k"], data.get("as_of"))
    result = found.as_dict()
    timeline = None
    if query.text or query.day:
        timeline = timeline_series(analysis.similarity_timeline(corpus, query), result["analogs"])
    return {
        "analysis": result,
        "histogram": histogram_figure(
            result["histogram"], result["analog_stats"]["mean"], result["baseline_stats"]["mean"]
        ),
        "timeline": timeline,
        "heatmap": heatmap_table(analysis.aspect_heatmap(corpus, data["horizon"])),
    }


@org_view(Role.VIEWER)
@require_GET
def corpus_analysis(request: HttpRequest, corpus_id: int) -> HttpResponse:
    corpus = visible_corpus(request, corpus_id)
    form = AnalysisForm(request.GET if submitted(AnalysisForm, request.GET) else None)
    outcome, quota_error, status = {}, None, 200
    if form.is_bound and form.is_valid():
        try:
            search_quota_use(request.organization)
            outcome = _analyse(corpus, form)
        except QuotaExceeded as error:
            quota_error, status = error, 429
        except ApplicationError as error:
            form.add_application_error(error)
    if form.errors:
        status = 400
    context = {
        **corpus_context(request, corpus, "analysis"),
        **outcome,
        "form": form,
        "quota_error": quota_error,
        "walk_forward_form": WalkForwardForm(initial=_walk_forward_initial(corpus)),
        "query": request.GET.urlencode(),
    }
    return _respond(request, "patterns/analysis.html", context, status, quota_error)


@org_view(Role.VIEWER)
@require_GET
def corpus_walk_forward(request: HttpRequest, corpus_id: int) -> HttpResponse:
    corpus = visible_corpus(request, corpus_id)
    bound = submitted(WalkForwardForm, request.GET)
    form = WalkForwardForm(request.GET if bound else None, initial=_walk_forward_initial(corpus))
    result, quota_error, status = None, None, 200
    if bound and form.is_valid():
        data = form.cleaned_data
        try:
            search_quota_use(request.organization)
            found = analysis.walk_forward(
                corpus,
                data["start"],
                data["end"],
                horizon=data["horizon"],
                k=data["k"],
                weights=data["weights"],
                fee_bps=data["fee_bps"],
            )
        except QuotaExceeded as error:
            quota_error, status = error, 429
        except ApplicationError as error:
            form.add_application_error(error)
        else:
            result = found.as_dict()
            result["curves"] = equity_series(result["equity"])
    if form.errors:
        status = 400
    context = {
        **corpus_context(request, corpus, "walk_forward"),
        "form": form,
        "result": result,
        "quota_error": quota_error,
    }
    return _respond(request, "patterns/walk_forward.html", context, status, quota_error)
