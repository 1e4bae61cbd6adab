"""The price chart of a corpus' market with astro overlays: the page holds the form and the
chart; the browser reads the candles and overlays from the JSON view beside it."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.access import org_view
from accounts.roles import Role
from asterweb.errors import ApplicationError
from patterns.forms import PriceChartForm, submitted
from patterns.models import Corpus
from patterns.services.price_chart import price_chart_data
from patterns.views.common import corpus_context, visible_corpus


def _form(request: HttpRequest, corpus: Corpus) -> PriceChartForm:
    if submitted(PriceChartForm, request.GET):
        return PriceChartForm(request.GET)
    return PriceChartForm.with_defaults(corpus.market_from, corpus.market_to)


def _query(form: PriceChartForm, corpus: Corpus) -> str:
    start, end = form.window(corpus.market_from, corpus.market_to)
    params = [("start", start), ("end", end)] if start and end else []
    params += [("retrograde", body) for body in form.cleaned_data["retrograde"]]
    if form.cleaned_data["aspects"]:
        params.append(("aspects", ", ".join(form.cleaned_data["aspects"])))
    if form.cleaned_data["moon"]:
        params.append(("moon", "on"))
    return urlencode(params)


@org_view(Role.VIEWER)
@require_GET
def corpus_chart(request: HttpRequest, corpus_id: int) -> HttpResponse:
    corpus = visible_corpus(request, corpus_id)
    form = _form(request, corpus)
    data_url = ""
    if form.is_valid() and corpus.has_market and corpus.market_to:
        url = reverse("patterns_chart_data", args=[request.organization.slug, corpus.pk])
        data_url = f"{url}?{_query(form, corpus)}"
    context = {**corpus_context(request, corpus, "chart"), "form": form, "data_url": data_url}
    return render(request, "patterns/chart.html", context, status=400 if form.errors else 200)


@org_view(Role.VIEWER)
@require_GET
def corpus_chart_data(request: HttpRequest, corpus_id: int) -> JsonResponse:
    corpus = visible_corpus(request, corpus_id)
    form = _form(request, corpus)
    if not form.is_valid():
        return JsonResponse({"detail": "Check the chart options.", "fields": form.errors}, status=400)
    start, end = form.window(corpus.market_from, corpus.market_to)
    if not corpus.has_market or start is None or end is None:
        return JsonResponse({"detail": "This corpus has no market prices to chart.", "candles": []})
    try:
        data = price_chart_data(
            corpus,
            start=start,
            end=end,
            retrograde=tuple(form.cleaned_data["retrograde"]),
            aspects=form.cleaned_data["aspects"],
            moon=form.cleaned_data["moon"],
        )
    except ApplicationError as error:
        return JsonResponse({"detail": error.detail, "fields": error.fields}, status=error.status_code)
    return JsonResponse(data)
