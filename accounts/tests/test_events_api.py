"""GET /api/v1/orgs/<slug>/events/?after=N: catching up on an organization's events after a
reconnect, by sequence number, with what the caller's role may see, in its own organization only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.services import audit_record
from accounts.tests.api_helpers import assert_error, issue_key, key_client
from asterweb.events import event_publish

pytestmark = pytest.mark.django_db


def events_url(org, query: str = "") -> str:
    return reverse("event-list", kwargs={"org_slug": org.slug}) + query


def listed(client, org, query: str = "") -> list[dict]:
    response = client.get(events_url(org, query))
    assert response.status_code == 200, response.content
    return response.json()["results"]


def removed(org, member_id: int):
    return event_publish(organization=org, type="member.removed", data={"member": {"id": member_id}, "reason": "left"})


def test_a_client_gets_the_events_after_the_last_number_it_has_oldest_first(team, client_for):
    seen, first_missed, second_missed = removed(team.org, 1), removed(team.org, 2), removed(team.org, 3)
    body = listed(client_for(team.viewer), team.org, f"?after={seen.sequence}")
    assert body == [
        {
            "id": event.id,
            "sequence": event.sequence,
            "type": "member.removed",
            "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
            "data": {"member": {"id": member_id}, "reason": "left"},
        }
        for event, member_id in [(first_missed, 2), (second_missed, 3)]
    ]
    assert [row["sequence"] for row in body] == [seen.sequence + 1, seen.sequence + 2]


def test_admin_only_events_are_skipped_for_lower_roles(team, client_for):
    audit_record(action="organization.updated", organization=team.org)
    removed(team.org, 1)
    assert "audit.recorded" in {row["type"] for row in listed(client_for(team.admin), team.org)}
    for user in (team.viewer, team.trader):
        assert "audit.recorded" not in {row["type"] for row in listed(client_for(user), team.org)}


def test_another_organizations_events_are_neither_listed_nor_reachable(team, other_team, client_for):
    theirs = removed(other_team.org, 9)
    mine = removed(team.org, 1)
    assert theirs.id not in {row["id"] for row in listed(client_for(team.owner), team.org)}
    assert mine.id in {row["id"] for row in listed(client_for(team.owner), team.org)}
    assert_error(client_for(team.owner).get(events_url(other_team.org)), 404)
    assert_error(key_client(issue_key(team.org, team.owner)).get(events_url(other_team.org)), 404)


def test_an_api_key_reads_its_organizations_events(team):
    event = removed(team.org, 1)
    client = key_client(issue_key(team.org, team.viewer, scopes=["read"]))
    assert [row["id"] for row in listed(client, team.org, f"?after={event.sequence - 1}")] == [event.id]


@pytest.mark.parametrize("after", ["abc", "1.5", "-1", "null"])
def test_after_must_be_a_whole_number_from_zero(team, client_for, after):
    assert_error(client_for(team.viewer).get(events_url(team.org, f"?after={after}")), 400)
