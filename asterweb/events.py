"""The events bus: one ``event_publish(*, organization, type, data)`` for everything that happens
in an organization, whoever reacts to it (ARCHITECTURE.md, "Events").

This module knows no app. Apps plug into it at start-up (``AppConfig.ready``):

- each app declares its event types in its own ``events.py`` with ``event_types_register``;
  publishing an undeclared type is a bug (``UnknownEventType``);
- one journal (accounts) stores each event with the organization's next sequence number,
  inside the publishing transaction: numbers are 1, 2, 3... per organization, without gaps, in
  commit order, and a rolled-back transaction publishes nothing;
- subscribers react. By default they run after the publishing transaction commits (pushes to
  websockets: never for an action that did not happen), each on its own, so one failing does not
  stop the others or undo the action. ``in_transaction=True`` subscribers run inside it, for writes
  that must stand or fall with the action (queued webhook deliveries, an organization's paper account).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction


class UnknownEventType(LookupError):
    """An event type nobody declared: declare it in the publishing app's events.py."""


@dataclass(frozen=True)
class EventType:
    """What an app declares about one kind of event.

    ``min_role`` is the lowest membership role that may see the event (live and in the catch-up
    read; accounts interprets it); ``webhook`` says whether endpoints may subscribe to it."""

    name: str
    description: str
    example: dict[str, Any] = field(default_factory=dict)  # what ``data`` looks like
    min_role: str = "viewer"
    webhook: bool = False


@dataclass(frozen=True)
class Event:
    """One published event, as the journal stored it."""

    id: str
    organization: Any  # accounts.Organization; this module knows no app
    type: EventType
    data: dict[str, Any]
    sequence: int
    created_at: datetime


class Journal(Protocol):
    def __call__(self, *, organization: Any, event_type: EventType, data: dict[str, Any]) -> Event: ...


Handler = Callable[[Event], None]


@dataclass(frozen=True)
class Subscriber:
    name: str
    handle: Handler
    types: frozenset[str] | None  # None: every type
    in_transaction: bool


_TYPES: dict[str, EventType] = {}
_SUBSCRIBERS: dict[str, Subscriber] = {}
_journal: Journal | None = None


def event_types_register(*event_types: EventType) -> None:
    """Declare event types (an app's events.py does, when its AppConfig.ready imports it)."""
    for event_type in event_types:
        known = _TYPES.get(event_type.name)
        if known is not None and known != event_type:
            raise ImproperlyConfigured(f"Event type {event_type.name!r} is declared twice, differently.")
        _TYPES[event_type.name] = event_type


def event_types() -> dict[str, EventType]:
    """Every declared type, by name, in declaration order."""
    return dict(_TYPES)


def event_type_get(name: str) -> EventType:
    try:
        return _TYPES[name]
    except KeyError:
        raise UnknownEventType(f"Unknown event type {name!r}: declare it in its app's events.py.") from None


def event_journal_register(journal: Journal) -> None:
    """The one store of published events (accounts registers it)."""
    global _journal
    _journal = journal


def event_subscribe(
    *, name: str, handle: Handler, types: Iterable[str] | None = None, in_transaction: bool = False
) -> None:
    """Call ``handle(event)`` for every published event of ``types`` (None: all), after the
    publishing transaction commits, or inside it with ``in_transaction``. Re-subscribing a name
    replaces it."""
    _SUBSCRIBERS[name] = Subscriber(
        name=name,
        handle=handle,
        types=frozenset(types) if types is not None else None,
        in_transaction=in_transaction,
    )


def event_publish(*, organization: Any, type: str, data: dict[str, Any]) -> Event:
    """Record an event of ``organization`` with its next sequence number and hand it to the
    subscribers (see the module docstring). Joins the caller's transaction, if any."""
    event_type = event_type_get(type)
    if _journal is None:
        raise ImproperlyConfigured("No event journal registered (accounts registers it in AppConfig.ready).")
    with transaction.atomic():
        event = _journal(organization=organization, event_type=event_type, data=data)
        for subscriber in _SUBSCRIBERS.values():
            if subscriber.types is not None and type not in subscriber.types:
                continue
            if subscriber.in_transaction:
                subscriber.handle(event)
            else:
                # robust: an error is logged (and reaches Sentry), the other subscribers still run.
                transaction.on_commit(_after_commit(subscriber, event), robust=True)
    return event


def _after_commit(subscriber: Subscriber, event: Event) -> Callable[[], None]:
    def run() -> None:
        subscriber.handle(event)

    run.__qualname__ = f"event subscriber {subscriber.name!r}"  # what Django logs if it raises
    return run
