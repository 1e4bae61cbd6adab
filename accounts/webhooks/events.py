"""The event types an endpoint can subscribe to: the events bus's types declared with
``webhook=True`` (each app's events.py), read when asked, after every app has declared its own."""

from __future__ import annotations

from accounts.events import TEST_EVENT
from asterweb.events import EventType, event_types

__all__ = ["TEST_EVENT", "event_type_choices", "unknown_event_types", "webhook_event_types"]


def webhook_event_types() -> dict[str, EventType]:
    """Subscribable types by name, in declaration order."""
    return {name: event_type for name, event_type in event_types().items() if event_type.webhook}


def event_type_choices() -> list[tuple[str, str]]:
    """(name, description) pairs, in declaration order."""
    return [(t.name, t.description) for t in webhook_event_types().values()]


def unknown_event_types(names: list[str]) -> list[str]:
    return sorted(set(names) - set(webhook_event_types()))
