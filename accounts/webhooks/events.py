"""The event types an endpoint can subscribe to. Emitting a type not listed here is a bug."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventType:
    name: str
    description: str


_TYPES = [
    EventType("webhook.test", "A test event, sent on request from the webhook pages or the API."),
    EventType("member.added", "Someone joined the organization (accepted an invitation)."),
    EventType("member.removed", "A member was removed from the organization or left it."),
    EventType("organization.updated", "The organization's name or settings changed."),
]

EVENT_TYPES: dict[str, EventType] = {event_type.name: event_type for event_type in _TYPES}

# Sent to one endpoint on request, whatever it subscribes to.
TEST_EVENT = "webhook.test"


def event_type_choices() -> list[tuple[str, str]]:
    """(name, description) pairs, in registry order."""
    return [(t.name, t.description) for t in _TYPES]


def unknown_event_types(names: list[str]) -> list[str]:
    return sorted(set(names) - set(EVENT_TYPES))
