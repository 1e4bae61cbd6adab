"""HTML pages for webhook endpoints and their delivery log, and the public documentation page.
Thin: parse the form, call a service, render."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlencode

from allauth.account.decorators import reauthentication_required
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.access import (
    org_view,
    reauthentication_before_post,
    recently_reauthenticated,
    redirect_to_reauthenticate,
)
from accounts.forms import form_add_application_error
from accounts.roles import Role
from accounts.webhooks import selectors, services
from accounts.webhooks.delivery import (
    DISABLE_AFTER,
    RESPONSE_BODY_LIMIT,
    RETRY_WINDOW,
    SIGNATURE_HEADER,
    event_payload,
)
from accounts.webhooks.docs import DJANGO_VIEW_SNIPPET, VERIFY_SNIPPET
from accounts.webhooks.events import webhook_event_types
from accounts.webhooks.forms import DeliveryFilterForm, WebhookEndpointEditForm, WebhookEndpointForm
from accounts.webhooks.models import WebhookDelivery, WebhookEndpoint
from asterweb.errors import ApplicationError
from asterweb.view_helpers import action_then_redirect

DELIVERY_PAGE_SIZE = 50


def _endpoint(request: HttpRequest, endpoint_id: int) -> WebhookEndpoint:
    return get_object_or_404(WebhookEndpoint.objects.for_org(request.organization), pk=endpoint_id)


def _delivery(request: HttpRequest, delivery_id: int) -> WebhookDelivery:
    return get_object_or_404(
        WebhookDelivery.objects.for_org(request.organization).select_related("event", "endpoint"), pk=delivery_id
    )


def _render_secret(request: HttpRequest, issued: services.IssuedEndpoint, *, rotated: bool) -> HttpResponse:
    """The secret is rendered in the POST's own response and nowhere else: it is never stored in
    clear, put in the session, or shown again. ``no-store`` keeps it out of the browser's cache."""
    response = render(
        request,
        "webhooks/endpoint_secret.html",
        {"endpoint": issued.endpoint, "secret": issued.secret, "rotated": rotated},
    )
    response["Cache-Control"] = "no-store"
    return response


@org_view(Role.ADMIN)
def webhook_list(request: HttpRequest) -> HttpResponse:
    endpoints = selectors.webhook_endpoints_for_org(organization=request.organization)
    recent = selectors.webhook_deliveries_for_org(organization=request.organization)[:10]
    return render(request, "webhooks/endpoint_list.html", {"endpoints": endpoints, "recent_deliveries": recent})


@org_view(Role.ADMIN)
@reauthentication_before_post
@reauthentication_required  # on GET too: confirm the password before the form, so nothing typed is lost
def webhook_create(request: HttpRequest) -> HttpResponse:
    form = WebhookEndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.webhook_endpoint_create(
                organization=request.organization, actor=request.user, **form.cleaned_data
            )
        except ApplicationError as error:
            form_add_application_error(form, error)
        else:
            return _render_secret(request, issued, rotated=False)
    return render(request, "webhooks/endpoint_form.html", {"form": form, "endpoint": None})


@org_view(Role.ADMIN)
def webhook_detail(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    initial = {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "active": endpoint.active,
    }
    form = WebhookEndpointEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes_url = services.webhook_endpoint_url_changes(endpoint=endpoint, url=form.cleaned_data["url"])
        if changes_url and not recently_reauthenticated(request):
            return redirect_to_reauthenticate(request)  # past deliveries could be redelivered to the new URL
        try:
            services.webhook_endpoint_update(
                organization=request.organization, actor=request.user, endpoint=endpoint, **form.cleaned_data
            )
        except ApplicationError as error:
            form_add_application_error(form, error)
        else:
            messages.success(request, "Endpoint saved.")
            return redirect("webhook_detail", request.organization.slug, endpoint.pk)
    deliveries = selectors.webhook_deliveries_for_org(organization=request.organization, endpoint_id=endpoint.pk)
    context = {"form": form, "endpoint": endpoint, "recent_deliveries": deliveries[:10]}
    return render(request, "webhooks/endpoint_form.html", context)


def _endpoint_action(request: HttpRequest, action: Callable[[], object], success: str, back: str) -> HttpResponse:
    return action_then_redirect(request, action, success, back)


@org_view(Role.ADMIN)
def webhook_delete(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    if request.method == "POST":
        services.webhook_endpoint_delete(organization=request.organization, actor=request.user, endpoint=endpoint)
        messages.success(request, f"Deleted the endpoint {endpoint.url}.")
        return redirect("webhook_list", request.organization.slug)
    return render(request, "webhooks/endpoint_delete.html", {"endpoint": endpoint})


@org_view(Role.ADMIN)
@require_POST
def webhook_test(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    return _endpoint_action(
        request,
        lambda: services.webhook_send_test_event(
            organization=request.organization, actor=request.user, endpoint=endpoint
        ),
        "Test event queued: it appears in the delivery log below within seconds.",
        back=f"{_url(request, 'webhook_deliveries')}?endpoint={endpoint.pk}",
    )


@org_view(Role.ADMIN)
def webhook_rotate_secret(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)  # another organization's id: 404 before any password prompt
    if request.method != "POST":  # back from confirming the password: the button is on the endpoint page
        return redirect("webhook_detail", request.organization.slug, endpoint.pk)
    return _rotate_secret(request, endpoint=endpoint)


@reauthentication_before_post
def _rotate_secret(request: HttpRequest, *, endpoint: WebhookEndpoint) -> HttpResponse:
    issued = services.webhook_endpoint_rotate_secret(
        organization=request.organization, actor=request.user, endpoint=endpoint
    )
    return _render_secret(request, issued, rotated=True)


@org_view(Role.ADMIN)
def webhook_deliveries(request: HttpRequest) -> HttpResponse:
    organization = request.organization
    endpoints = selectors.webhook_endpoints_for_org(organization=organization)
    form = DeliveryFilterForm(request.GET or None, endpoints=[(e.pk, e.url) for e in endpoints])
    filters = form.cleaned_data if form.is_valid() else {}
    deliveries = selectors.webhook_deliveries_for_org(
        organization=organization, endpoint_id=filters.get("endpoint"), state=filters.get("state") or ""
    )
    page = Paginator(deliveries, DELIVERY_PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode({key: value for key, value in filters.items() if value not in (None, "")})
    return render(request, "webhooks/delivery_list.html", {"form": form, "page": page, "query": query})


@org_view(Role.ADMIN)
def webhook_delivery_detail(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = _delivery(request, delivery_id)
    payload = json.dumps(json.loads(event_payload(delivery.event)), indent=2, ensure_ascii=False)
    context = {"delivery": delivery, "payload": payload, "body_limit": RESPONSE_BODY_LIMIT}
    return render(request, "webhooks/delivery_detail.html", context)


@org_view(Role.ADMIN)
@require_POST
def webhook_redeliver(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = _delivery(request, delivery_id)
    return _endpoint_action(
        request,
        lambda: services.webhook_delivery_redeliver(
            organization=request.organization, actor=request.user, delivery=delivery
        ),
        f"Redelivery of {delivery.event_id} queued.",
        back=f"{_url(request, 'webhook_deliveries')}?endpoint={delivery.endpoint_id}",
    )


def _url(request: HttpRequest, name: str) -> str:
    return reverse(name, args=[request.organization.slug])


def webhooks_docs(request: HttpRequest) -> HttpResponse:
    """Public: how to receive and verify AsterAI webhooks."""
    context = {
        "event_types": [
            {"name": t.name, "description": t.description, "example_json": json.dumps(t.example, indent=2)}
            for t in webhook_event_types().values()
        ],
        "retry_hours": int(RETRY_WINDOW.total_seconds() // 3600),
        "disable_days": DISABLE_AFTER.days,
        "body_limit": RESPONSE_BODY_LIMIT,
        "timeout_seconds": settings.WEBHOOK_TIMEOUT_SECONDS,
        "connect_timeout_seconds": settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS,
        "signature_header": SIGNATURE_HEADER,
        "verify_snippet": VERIFY_SNIPPET,
        "django_view_snippet": DJANGO_VIEW_SNIPPET,
    }
    return render(request, "docs/webhooks.html", context)
