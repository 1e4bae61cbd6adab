"""HTML views for exchange accounts, markets and candles. Thin: forms, one service call, render."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.access import org_view, reauthentication_before_post
from accounts.forms import form_add_application_error
from accounts.roles import Role
from asterweb.errors import ApplicationError
from asterweb.view_helpers import action_then_redirect
from trading.api import MAX_CANDLES_PER_PAGE
from trading.exchanges.base import ExchangeError
from trading.forms import CandleChartForm, CredentialsForm, ExchangeAccountForm, chosen_step
from trading.marketdata.selectors import available_series
from trading.models import ExchangeAccount
from trading.selectors import exchange_accounts_for_org
from trading.services import exchange_accounts as service


def _account(request: HttpRequest, account_id: int) -> ExchangeAccount:
    return get_object_or_404(ExchangeAccount.objects.for_org(request.organization), pk=account_id)


@org_view(Role.VIEWER)
def exchange_account_list(request: HttpRequest) -> HttpResponse:
    accounts = exchange_accounts_for_org(organization=request.organization)
    return render(request, "trading/exchange_accounts.html", {"accounts": accounts})


@org_view(Role.ADMIN)
@reauthentication_before_post
def exchange_account_add(request: HttpRequest) -> HttpResponse:
    form = ExchangeAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = service.exchange_account_create(
                organization=request.organization,
                actor=request.user,
                exchange_id=form.cleaned_data["exchange_id"],
                label=form.cleaned_data["label"],
                mode=ExchangeAccount.Mode.LIVE,
                credentials=form.credentials,
                accept_main_key_risk=form.cleaned_data["accept_main_key_risk"],
            )
        except ApplicationError as error:
            form_add_application_error(form, error)
        else:
            messages.success(request, f"Connected {account.label}. Test the connection before trading.")
            return redirect("exchange_account_list", request.organization.slug)
    return render(
        request,
        "trading/exchange_account_form.html",
        {"form": form, "account": None},
        status=400 if form.errors else 200,
    )


@org_view(Role.ADMIN)
def exchange_account_credentials(request: HttpRequest, account_id: int) -> HttpResponse:
    # Find the account first: another organization's id is a 404, never a password prompt.
    return _replace_credentials(request, account=_account(request, account_id))


@reauthentication_before_post
def _replace_credentials(request: HttpRequest, *, account: ExchangeAccount) -> HttpResponse:
    if account.is_paper:
        messages.error(request, "The paper exchange needs no credentials.")
        return redirect("exchange_account_list", request.organization.slug)
    form = CredentialsForm(request.POST or None, initial={"credential_kind": account.credential_kind})
    if request.method == "POST" and form.is_valid():
        try:
            service.exchange_account_replace_credentials(
                organization=request.organization,
                actor=request.user,
                account=account,
                credentials=form.credentials,
                accept_main_key_risk=form.cleaned_data["accept_main_key_risk"],
            )
        except ApplicationError as error:
            form_add_application_error(form, error)
        else:
            messages.success(request, f"Replaced the credentials of {account.label}.")
            return redirect("exchange_account_list", request.organization.slug)
    return render(
        request,
        "trading/exchange_account_form.html",
        {"form": form, "account": account},
        status=400 if form.errors else 200,
    )


@org_view(Role.TRADER)
@require_POST
def exchange_account_test(request: HttpRequest, account_id: int) -> HttpResponse:
    account = _account(request, account_id)
    report = service.exchange_account_test(organization=request.organization, actor=request.user, account=account)
    if report.ok:
        messages.success(request, f"{account.label}: connected as {report.account or account.fingerprint}.")
    else:
        messages.error(request, f"{account.label}: {report.message or 'the connection failed.'}")
    return redirect("exchange_account_list", request.organization.slug)


@org_view(Role.ADMIN)
@require_POST
def exchange_account_remove(request: HttpRequest, account_id: int) -> HttpResponse:
    account = _account(request, account_id)
    return action_then_redirect(
        request,
        lambda: service.exchange_account_remove(organization=request.organization, actor=request.user, account=account),
        f"Removed {account.label} and its credentials.",
        reverse("exchange_account_list", args=[request.organization.slug]),
    )


@org_view(Role.VIEWER)
def exchange_account_markets(request: HttpRequest, account_id: int) -> HttpResponse:
    account = _account(request, account_id)
    markets, error = [], ""
    try:
        markets = sorted(service.exchange_account_adapter(account).load_markets().values(), key=lambda m: m.symbol)
    except ExchangeError as exc:
        error = str(exc)
    return render(
        request,
        "trading/markets.html",
        {"account": account, "markets": markets, "error": error},
        status=502 if error else 200,
    )


@org_view(Role.VIEWER)
def candle_chart(request: HttpRequest) -> HttpResponse:
    """A candlestick chart of one stored series; the browser reads the candles from the API."""
    series = list(available_series())
    form = CandleChartForm(request.GET or None, series=series)
    chosen = form.chosen_series() if form.is_valid() else (series[0] if series and not request.GET else None)
    query = ""
    if chosen is not None:
        params = {
            "exchange": chosen.exchange,
            "symbol": chosen.symbol,
            "market_type": chosen.market_type,
            "timeframe": chosen.timeframe,
            "limit": MAX_CANDLES_PER_PAGE,
        }
        start = form.cleaned_data.get("start") if form.is_valid() else None
        end = form.cleaned_data.get("end") if form.is_valid() else None
        if start or end or chosen.last_open_time is None:
            params.update({k: v.isoformat() for k, v in (("start", start), ("end", end)) if v})
        else:  # the most recent page by default
            params["start"] = (chosen.last_open_time - (MAX_CANDLES_PER_PAGE - 1) * chosen_step(chosen)).isoformat()
        query = urlencode(params)
    context = {
        "form": form,
        "series": series,
        "chosen": chosen,
        "data_url": f"{reverse('candle-list', args=[request.organization.slug])}?{query}" if chosen else "",
    }
    return render(request, "trading/candle_chart.html", context, status=400 if form.errors else 200)
