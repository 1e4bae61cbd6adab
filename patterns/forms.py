"""HTML forms of the pattern-search pages.

The query forms check only what a form can (types, ranges, choices); the rules themselves
live in ``patterns.services.search`` (``SearchRequest``, ``Weights``, ``DayFilters``), so a
query the API would refuse is refused here with the same message, shown on the field it names.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django import forms

from accounts.forms import form_add_application_error
from asterweb.errors import ApplicationError
from asterweb.request_limits import upload_limit_text
from patterns.encoders import astro
from patterns.encoders.market import HORIZONS
from patterns.encoders.news import MAX_QUERY_CHARS
from patterns.services import analysis
from patterns.services.corpora import series_choices
from patterns.services.search import MAX_RESULTS, DayFilters, SearchRequest, Weights
from patterns.sources import MAX_HEADLINE_CHARS, upload_size_check

MAX_ASPECTS = 20
MAX_SIGNS = 11
_SEPARATORS = re.compile(r"[,;\s]+")
_SIGN_PAIR = re.compile(r"^\s*([a-z]+)\s*(?:-|:|=|\s+in\s+)\s*([a-z]+)\s*$")


def _labels(names: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ").capitalize()) for name in names]


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _checkboxes() -> forms.CheckboxSelectMultiple:
    return forms.CheckboxSelectMultiple(attrs={"class": "choice-row"})


BODY_CHOICES = _labels(astro.BODIES)
RETROGRADE_CHOICES = _labels(astro.PLANETS_THAT_RETROGRADE)
ASPECT_CHOICES = _labels(tuple(astro.ASPECTS))
MOON_PHASE_CHOICES = _labels(astro.MOON_PHASES)
HORIZON_CHOICES = [(str(horizon), f"{horizon} bar{'s' if horizon != 1 else ''}") for horizon in HORIZONS]


def _weight_field(name: str) -> forms.FloatField:
    return forms.FloatField(
        label=name.capitalize(),
        required=False,
        min_value=0,
        max_value=10,
        initial=1,
        widget=forms.NumberInput(attrs={"step": "0.1", "min": "0", "max": "10"}),
    )


def weights_from(data: dict[str, Any]) -> Weights:
    """The weights of the ``weight_<component>`` fields (an empty field means the default, 1)."""
    return Weights(
        **{
            name: 1.0 if data.get(f"weight_{name}") is None else float(data[f"weight_{name}"])
            for name in ("astro", "news", "market")
        }
    )


def submitted(form_class: type[forms.Form], data: Any) -> bool:
    """Whether a GET query string carries any of the form's fields (else show it unbound)."""
    return any(key in form_class.base_fields for key in data)


class ServiceValidatedForm(forms.Form):
    """A form whose last check is a service object's own validation (an ``ApplicationError``
    naming fields becomes errors on those fields)."""

    def add_application_error(self, error: ApplicationError) -> None:
        form_add_application_error(self, error)


# ---------------------------------------------------------------- corpora


class CorpusCreateForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    market = forms.ChoiceField(
        required=False,
        label="Market",
        help_text="A stored daily candle series whose forward returns the corpus reports (optional).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["market"].choices = [("", "No market (news only)")] + [
            (f"{series.exchange}|{series.symbol}", f"{series.symbol} · {series.exchange} ({series.market_type})")
            for series in series_choices()
        ]

    def service_arguments(self) -> dict[str, str]:
        exchange, _, symbol = self.cleaned_data["market"].partition("|")
        return {
            "name": self.cleaned_data["name"],
            "description": self.cleaned_data["description"],
            "market_symbol": symbol,
            "market_exchange": exchange,
        }


class HeadlinesUploadForm(forms.Form):
    file = forms.FileField(
        label="Headlines file",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.json,.txt,text/csv,application/json"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = (
            "CSV with a header (a date column: date/day/published; a text column: headline/title/text; "
            f'optionally source), or JSON: a list of {{"date", "headline"}} objects. Up to {upload_limit_text()}.'
        )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        try:
            upload_size_check(upload.size)  # by its size: nothing is read yet
        except ApplicationError as error:
            raise forms.ValidationError(error.detail) from None
        return upload


class EventForm(forms.Form):
    day = forms.DateField(label="Day", widget=_date_input(), help_text="The UTC day it happened.")
    text = forms.CharField(max_length=MAX_HEADLINE_CHARS, label="What happened", widget=forms.TextInput())
    source = forms.CharField(max_length=120, required=False)


# ---------------------------------------------------------------- the query (search and analysis)


class QueryForm(ServiceValidatedForm):
    """Text, day, weights and filters: the part of a query search and analysis share."""

    text = forms.CharField(
        required=False,
        max_length=MAX_QUERY_CHARS,
        label="Text",
        widget=forms.TextInput(attrs={"placeholder": "e.g. central banks raise rates to fight inflation"}),
    )
    day = forms.DateField(required=False, label="Days like", widget=_date_input())
    weight_astro = _weight_field("astro")
    weight_news = _weight_field("news")
    weight_market = _weight_field("market")
    start = forms.DateField(required=False, label="From", widget=_date_input())
    end = forms.DateField(required=False, label="To", widget=_date_input())
    retrograde = forms.MultipleChoiceField(
        required=False, choices=RETROGRADE_CHOICES, label="Retrograde", widget=_checkboxes()
    )
    direct = forms.MultipleChoiceField(
        required=False, choices=RETROGRADE_CHOICES, label="Not retrograde", widget=_checkboxes()
    )
    moon_phases = forms.MultipleChoiceField(
        required=False, choices=MOON_PHASE_CHOICES, label="Moon phase (any of)", widget=_checkboxes()
    )
    aspects = forms.CharField(
        required=False,
        max_length=1000,
        label="Aspects (all of)",
        help_text="body-aspect-body, separated by commas, e.g. mars-square-saturn, sun-trine-jupiter.",
    )
    aspect_body1 = forms.ChoiceField(required=False, choices=[("", "Body"), *BODY_CHOICES], label="Body")
    aspect_kind = forms.ChoiceField(required=False, choices=[("", "Aspect"), *ASPECT_CHOICES], label="Aspect")
    aspect_body2 = forms.ChoiceField(required=False, choices=[("", "Body"), *BODY_CHOICES], label="Other body")
    signs = forms.CharField(
        required=False,
        max_length=500,
        label="Signs (all of)",
        help_text="body-sign, separated by commas, e.g. sun-aries, mars-capricorn.",
    )

    limit_default = 10

    def clean_aspects(self) -> tuple[str, ...]:
        names = tuple(name.lower() for name in _SEPARATORS.split(self.cleaned_data["aspects"]) if name)
        if len(names) > MAX_ASPECTS:
            raise forms.ValidationError(f"At most {MAX_ASPECTS} aspects.")
        return names

    def clean_signs(self) -> tuple[tuple[str, str], ...]:
        pairs = []
        for part in filter(None, (piece.strip().lower() for piece in self.cleaned_data["signs"].split(","))):
            match = _SIGN_PAIR.match(part)
            if not match:
                raise forms.ValidationError(f"“{part}” should look like sun-aries.")
            pairs.append((match.group(1), match.group(2)))
        if len(pairs) > MAX_SIGNS:
            raise forms.ValidationError(f"At most {MAX_SIGNS} signs.")
        return tuple(sorted(set(pairs)))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        picked = [data.get(name) for name in ("aspect_body1", "aspect_kind", "aspect_body2")]
        if any(picked) and not all(picked):
            self.add_error("aspect_kind", "Pick two bodies and an aspect, or none.")
        elif all(picked) and "aspects" in data:
            data["aspects"] = (*data["aspects"], "-".join(picked))
        if not self.errors:
            try:
                data["request"] = self.build_request(data)
            except ApplicationError as error:
                self.add_application_error(error)
        return data

    def build_request(self, data: dict[str, Any]) -> SearchRequest:
        return SearchRequest(
            text=data.get("text", ""),
            day=data.get("day"),
            weights=weights_from(data),
            filters=DayFilters(
                start=data.get("start"),
                end=data.get("end"),
                retrograde=tuple(data.get("retrograde", ())),
                direct=tuple(data.get("direct", ())),
                moon_phases=tuple(data.get("moon_phases", ())),
                aspects=tuple(data.get("aspects", ())),
                signs=tuple(data.get("signs", ())),
            ),
            limit=data.get("limit") or self.limit_default,
        )

    @property
    def search_request(self) -> SearchRequest:
        return self.cleaned_data["request"]


class SearchForm(QueryForm):
    limit = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_RESULTS, initial=10, label="Results", widget=forms.NumberInput()
    )


class AnalysisForm(QueryForm):
    horizon = forms.TypedChoiceField(
        choices=HORIZON_CHOICES, coerce=int, initial="5", label="Horizon", help_text="Forward return in bars."
    )
    k = forms.IntegerField(
        min_value=analysis.K_MIN,
        max_value=analysis.K_MAX,
        initial=20,
        label="Analogs (k)",
        help_text=f"{analysis.K_MIN} to {analysis.K_MAX} days, kept a horizon apart.",
    )
    as_of = forms.DateField(
        required=False,
        label="As of",
        widget=_date_input(),
        help_text="Only analogs whose outcome was known by this day (default: the query day).",
    )

    limit_default = 1  # the analysis takes k analogs; a search page size means nothing here

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        data = args[0] if args else kwargs.get("data")
        if data is not None:  # the search page's link carries no horizon or k: use the defaults
            data = data.copy()
            for name in ("horizon", "k"):
                if not data.get(name):
                    data[name] = self.base_fields[name].initial
            args = (data, *args[1:])
        super().__init__(*args, **kwargs)


class WalkForwardForm(ServiceValidatedForm):
    start = forms.DateField(label="From", widget=_date_input())
    end = forms.DateField(label="To", widget=_date_input())
    horizon = forms.TypedChoiceField(choices=HORIZON_CHOICES, coerce=int, initial="5", label="Horizon")
    k = forms.IntegerField(min_value=analysis.K_MIN, max_value=analysis.K_MAX, initial=20, label="Analogs (k)")
    fee_bps = forms.FloatField(
        min_value=0,
        max_value=1000,
        initial=10,
        label="Fees (bps)",
        help_text="Charged per unit of position change.",
        widget=forms.NumberInput(attrs={"step": "0.5"}),
    )
    weight_astro = _weight_field("astro")
    weight_news = _weight_field("news")
    weight_market = _weight_field("market")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            self.add_error("start", "After the end.")
        if not self.errors:
            try:
                data["weights"] = weights_from(data)
            except ApplicationError as error:
                self.add_application_error(error)
        return data


# ---------------------------------------------------------------- the price chart

MAX_CHART_DAYS = 3700  # about ten years of daily candles


class PriceChartForm(ServiceValidatedForm):
    start = forms.DateField(required=False, label="From", widget=_date_input())
    end = forms.DateField(required=False, label="To", widget=_date_input())
    retrograde = forms.MultipleChoiceField(
        required=False, choices=RETROGRADE_CHOICES, label="Retrograde spans", widget=_checkboxes()
    )
    aspects = forms.CharField(
        required=False,
        max_length=500,
        label="Aspects to mark",
        help_text="body-aspect-body, separated by commas, e.g. mars-square-saturn.",
    )
    moon = forms.BooleanField(required=False, label="Mark new and full moons")

    def clean_aspects(self) -> tuple[str, ...]:
        names = []
        for name in (piece.lower() for piece in _SEPARATORS.split(self.cleaned_data["aspects"]) if piece):
            parts = name.split("-")
            try:
                if len(parts) != 3:
                    raise ValueError(f"“{name}” should look like mars-square-saturn")
                names.append(astro.aspect_name(*parts))
            except ValueError as error:
                raise forms.ValidationError(f"{str(error)[:1].upper()}{str(error)[1:]}.") from None
        if len(names) > MAX_ASPECTS:
            raise forms.ValidationError(f"At most {MAX_ASPECTS} aspects.")
        return tuple(dict.fromkeys(names))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        for name in ("start", "end"):
            value = data.get(name)
            if value and not astro.MIN_DATE <= value <= astro.MAX_DATE:
                self.add_error(name, f"Between {astro.MIN_DATE} and {astro.MAX_DATE}.")
        if start and end and start > end:
            self.add_error("start", "After the end.")
        elif start and end and (end - start).days > MAX_CHART_DAYS:
            self.add_error("end", f"At most {MAX_CHART_DAYS:,} days at a time.")
        return data

    def window(self, first: date | None, last: date | None) -> tuple[date | None, date | None]:
        return chart_window(first, last, self.cleaned_data.get("start"), self.cleaned_data.get("end"))

    @classmethod
    def with_defaults(cls, first: date | None, last: date | None) -> PriceChartForm:
        """The form as first shown: Mercury, the moons, and the newest days of the market."""
        start, end = chart_window(first, last)
        return cls({"retrograde": ["mercury"], "moon": True, "start": start, "end": end})


def chart_window(
    first: date | None, last: date | None, start: date | None = None, end: date | None = None
) -> tuple[date | None, date | None]:
    """The chosen days, defaulting to the newest ``MAX_CHART_DAYS`` of [first, last] (and never
    longer than that: the form refuses a longer explicit span, an open end is cut short)."""
    end = end or last
    if end is not None:
        earliest = date.fromordinal(end.toordinal() - MAX_CHART_DAYS)
        start = max(earliest, start or first or end)
    return start, end
