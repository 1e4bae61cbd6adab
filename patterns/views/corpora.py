"""Corpora: the list with coverage, creating a private corpus, a corpus' page (coverage,
indexing progress, uploads, events, recent headlines) and re-indexing or deleting it."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.access import org_view
from accounts.forms import form_add_application_error
from accounts.roles import Role
from asterweb.errors import ApplicationError
from asterweb.request_limits import accepts_upload
from asterweb.view_helpers import action_then_redirect
from patterns.forms import CorpusCreateForm, EventForm, HeadlinesUploadForm
from patterns.models import Corpus
from patterns.selectors import corpora_visible, corpus_headlines, public_corpora_enabled
from patterns.services import corpora as service
from patterns.views.common import corpus_context, coverage, member_can, own_corpus, visible_corpus

HEADLINES_PER_PAGE = 25


@org_view(Role.VIEWER)
@require_GET
def corpus_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request, CorpusCreateForm())


def _list_page(request: HttpRequest, form: CorpusCreateForm, status: int = 200) -> HttpResponse:
    rows = [{"corpus": corpus, "coverage": coverage(corpus)} for corpus in corpora_visible(request.organization)]
    context = {
        "public_rows": [row for row in rows if row["corpus"].is_public],
        "private_rows": [row for row in rows if not row["corpus"].is_public],
        "public_enabled": public_corpora_enabled(),
        "can_create": member_can(request, Role.TRADER),
        "form": form,
    }
    return render(request, "patterns/corpus_list.html", context, status=status)


@org_view(Role.TRADER)
@require_POST
def corpus_create(request: HttpRequest) -> HttpResponse:
    form = CorpusCreateForm(request.POST)
    if form.is_valid():
        try:
            corpus = service.corpus_create(
                organization=request.organization, user=request.user, **form.service_arguments()
            )
        except ApplicationError as error:
            _show_refusal(form, error)
        else:
            messages.success(request, f"Created {corpus.name}. Upload headlines or add events to fill it.")
            return redirect("patterns_corpus_detail", request.organization.slug, corpus.pk)
    return _list_page(request, form, status=400)


def _show_refusal(form: CorpusCreateForm, error: ApplicationError) -> None:
    # The service names ``market_symbol``; the form's field is ``market``.
    fields = {("market" if name.startswith("market") else name): value for name, value in error.fields.items()}
    form_add_application_error(form, ApplicationError(error.detail, fields=fields))


@org_view(Role.VIEWER)
@require_GET
def corpus_detail(request: HttpRequest, corpus_id: int) -> HttpResponse:
    corpus = visible_corpus(request, corpus_id)
    return _detail_page(request, corpus)


def _detail_page(
    request: HttpRequest,
    corpus: Corpus,
    *,
    upload_form: HeadlinesUploadForm | None = None,
    event_form: EventForm | None = None,
    report: dict | None = None,
    status: int = 200,
) -> HttpResponse:
    page = Paginator(corpus_headlines(corpus), HEADLINES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        **corpus_context(request, corpus, "overview"),
        "upload_form": upload_form or HeadlinesUploadForm(),
        "event_form": event_form or EventForm(),
        "report": report,
        "page": page,
    }
    return render(request, "patterns/corpus_detail.html", context, status=status)


@org_view(Role.VIEWER)
@require_GET
def corpus_status(request: HttpRequest, corpus_id: int) -> HttpResponse:
    """The status and coverage panel alone: polled by htmx while the corpus is being indexed."""
    corpus = visible_corpus(request, corpus_id)
    return render(request, "patterns/_corpus_status.html", corpus_context(request, corpus, "overview"))


@accepts_upload
@org_view(Role.TRADER)
@require_POST
def corpus_upload(request: HttpRequest, corpus_id: int) -> HttpResponse:
    corpus = own_corpus(request, corpus_id)
    form = HeadlinesUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _detail_page(request, corpus, upload_form=form, status=400)
    upload = form.cleaned_data["file"]
    try:
        report = service.headlines_upload(corpus=corpus, user=request.user, content=upload.read(), filename=upload.name)
    except ApplicationError as error:
        form.add_error("file", error.detail)
        return _detail_page(request, corpus, upload_form=form, status=400)
    corpus.refresh_from_db()
    outcome = report.as_dict()
    if report.inserted:
        messages.success(request, f"Added {report.inserted:,} headline{'s' if report.inserted != 1 else ''}.")
    return _detail_page(request, corpus, report={**outcome, "filename": upload.name})


@org_view(Role.TRADER)
@require_POST
def corpus_event_add(request: HttpRequest, corpus_id: int) -> HttpResponse:
    corpus = own_corpus(request, corpus_id)
    form = EventForm(request.POST)
    if form.is_valid():
        try:
            report = service.event_add(
                corpus=corpus,
                user=request.user,
                day=form.cleaned_data["day"].isoformat(),
                text=form.cleaned_data["text"],
                source=form.cleaned_data["source"],
            )
        except ApplicationError as error:
            form_add_application_error(form, error)
        else:
            if report.inserted:
                messages.success(request, "Added the event; the corpus is being re-indexed.")
            else:
                messages.info(request, "That event was already in the corpus on that day.")
            return redirect("patterns_corpus_detail", request.organization.slug, corpus.pk)
    return _detail_page(request, corpus, event_form=form, status=400)


@org_view(Role.TRADER)
@require_POST
def corpus_reindex(request: HttpRequest, corpus_id: int) -> HttpResponse:
    corpus = own_corpus(request, corpus_id)
    return action_then_redirect(
        request,
        lambda: service.corpus_schedule_index(corpus),
        f"Queued re-indexing of {corpus.name}.",
        reverse("patterns_corpus_detail", args=[request.organization.slug, corpus.pk]),
    )


@org_view(Role.ADMIN)
def corpus_delete(request: HttpRequest, corpus_id: int) -> HttpResponse:
    corpus = own_corpus(request, corpus_id)
    if request.method == "POST":
        name = corpus.name
        service.corpus_delete(corpus=corpus, user=request.user)
        messages.success(request, f"Deleted {name} and its headlines.")
        return redirect("patterns_corpus_list", request.organization.slug)
    return render(request, "patterns/corpus_delete.html", corpus_context(request, corpus, "overview"))
