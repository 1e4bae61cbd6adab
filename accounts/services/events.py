"""Accounts' side of the events bus (asterweb/events.py): the journal that numbers and stores every
published event, and the organization's websocket group as a subscriber."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from accounts.models import Organization, OrganizationEvent, OrganizationEventCounter
from accounts.realtime import organization_broadcast
from asterweb.events import Event, EventType

_COUNTER = OrganizationEventCounter._meta.db_table
# One statement takes the next number and holds the counter row until the transaction ends, so
# concurrent publishers in one organization queue here: no gaps, no duplicates, commit order.
_NEXT_SEQUENCE_SQL = (
    f"INSERT INTO {_COUNTER} (organization_id, last_sequence) VALUES (%s, 1) "  # noqa: S608 - fixed table name
    f"ON CONFLICT (organization_id) DO UPDATE SET last_sequence = {_COUNTER}.last_sequence + 1 "
    "RETURNING last_sequence"
)


def _next_sequence(organization: Organization) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_SEQUENCE_SQL, [organization.pk])
        return cursor.fetchone()[0]


def organization_event_record(*, organization: Organization, event_type: EventType, data: dict[str, Any]) -> Event:
    """The bus's journal: store the event with the organization's next sequence number, in the
    publishing transaction. ``data`` is stored (and handed on) as JSON would carry it."""
    data = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    row = OrganizationEvent.objects.create(
        organization=organization,
        sequence=_next_sequence(organization),
        type=event_type.name,
        data=data,
        min_role=event_type.min_role,
    )
    return Event(
        id=row.id,
        organization=organization,
        type=event_type,
        data=data,
        sequence=row.sequence,
        created_at=row.created_at,
    )


def organization_event_push(event: Event) -> None:
    """Subscriber, after commit: send the event to the organization's open feeds (members whose
    role is at least the type's ``min_role``). A Redis outage must not fail an action that committed:
    ``organization_broadcast`` drops the event and logs it; a client that missed events catches up
    from the events API by sequence number."""
    organization_broadcast(
        organization=event.organization,
        event_type=event.type.name,
        data=event.data,
        sequence=event.sequence,
        min_role=event.type.min_role,
    )
