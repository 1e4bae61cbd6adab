"""Number and name formats of the pattern pages."""

from __future__ import annotations

from django import template

register = template.Library()

ASPECT_SYMBOLS = {"conjunction": "☌", "sextile": "*", "square": "□", "trine": "△", "opposition": "☍"}


@register.filter
def percent(value: float | None, digits: int = 2) -> str:
    """0.0123 → "+1.23%"; None → "—"."""
    if value is None:
        return "—"
    return f"{float(value) * 100:+.{int(digits)}f}%"


@register.filter
def spread(value: float | None) -> str:
    """A dispersion as a percentage, unsigned: 0.0655 → "6.55%"."""
    return "—" if value is None else f"{float(value) * 100:.2f}%"


@register.filter
def share(value: float | None) -> str:
    """0.55 → "55%" (a proportion, no sign)."""
    return "—" if value is None else f"{float(value) * 100:.0f}%"


@register.filter
def decimal(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{float(value):.{int(digits)}f}"


@register.filter
def aspect_label(name: str) -> str:
    """ "mars-square-saturn" → "Mars □ Saturn (square)"."""
    parts = str(name).split("-")
    if len(parts) != 3 or parts[1] not in ASPECT_SYMBOLS:
        return str(name)
    first, kind, second = parts
    return f"{first.capitalize()} {ASPECT_SYMBOLS[kind]} {second.capitalize()} ({kind})"


@register.filter
def label(name: str) -> str:
    """ "waxing_crescent" → "Waxing crescent"."""
    return str(name).replace("_", " ").capitalize()


@register.filter
def planets(bodies: list[str]) -> list[str]:
    """Bodies without the mean node, which is always retrograde and so says nothing."""
    return [body for body in bodies if body != "node"]
