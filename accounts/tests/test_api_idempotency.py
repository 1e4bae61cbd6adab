"""Idempotency-Key on creating POSTs, as Stripe does it: a repeat replays the first response
(2xx or 4xx) and creates nothing; another body with the same key is a 409; a repeat while the
first still runs is a 409; keys are per organization and per credential and last 24 hours;
5xx responses and transient 4xx (re-authentication required, 409, 429) are not stored; every
operation that creates (201), viewset or not, honours the key."""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg
import pytest
from django.core import mail
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.idempotency import idempotency_records_purge
from accounts.models import ApiKey, AuditEvent, IdempotencyRecord, Invitation, Membership
from accounts.roles import Role
from accounts.tasks import idempotency_records_purge as purge_task
from accounts.tests.api_helpers import (
    EXPLODING_ACTION,
    assert_error,
    issue_key,
    key_client,
    reauthenticated_client,
    stored_rows,
)

TEST_URLCONF = "accounts.tests.api_helpers"
REPLAYED = "Idempotent-Replayed"


def invitations_url(org) -> str:
    return reverse("invitation-list", kwargs={"org_slug": org.slug})


def keys_url(org) -> str:
    return reverse("api-key-list", kwargs={"org_slug": org.slug})


def post(client: Client, path: str, body, key: str | None = None, **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(path, json.dumps(body), content_type="application/json", **headers, **extra)


def invitations(org) -> int:
    return Invitation.objects.for_org(org).count()


@pytest.fixture
def owner(team):
    """The owner's browser session, freshly re-authenticated (minting keys needs it)."""
    return reauthenticated_client(team.owner)


# --- replay -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_same_key_and_body_replays_the_first_response_and_creates_once(
    team, owner, django_capture_on_commit_callbacks
):
    body = {"email": "ana@example.com", "role": "trader"}
    with django_capture_on_commit_callbacks(execute=True):
        first = post(owner, invitations_url(team.org), body, key="invite-ana")
    with django_capture_on_commit_callbacks(execute=True):
        second = post(owner, invitations_url(team.org), body, key="invite-ana")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second[REPLAYED] == "true"
    assert REPLAYED not in first
    assert invitations(team.org) == 1
    assert AuditEvent.objects.for_org(team.org).filter(action="invitation.created").count() == 1
    assert [message.to for message in mail.outbox] == [["ana@example.com"]]


@pytest.mark.django_db
def test_without_a_key_a_repeat_is_a_new_request(team, owner):
    assert post(owner, keys_url(team.org), {"name": "a", "scopes": ["read"]}).status_code == 201
    assert post(owner, keys_url(team.org), {"name": "a", "scopes": ["read"]}).status_code == 201
    assert ApiKey.objects.for_org(team.org).count() == 2


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_409_and_stores_nothing(team, owner):
    post(owner, invitations_url(team.org), {"email": "ana@example.com"}, key="k1")
    before = stored_rows()
    response = post(owner, invitations_url(team.org), {"email": "bob@example.com"}, key="k1")
    assert_error(response, 409, "idempotency_key_reused")
    assert stored_rows() == before


@pytest.mark.django_db
def test_the_same_key_on_another_endpoint_is_409(team, owner):
    post(owner, invitations_url(team.org), {"email": "ana@example.com"}, key="shared")
    response = post(owner, keys_url(team.org), {"name": "x", "scopes": ["read"]}, key="shared")
    assert_error(response, 409, "idempotency_key_reused")
    assert ApiKey.objects.for_org(team.org).count() == 0


@pytest.mark.django_db
def test_a_4xx_response_is_stored_and_replayed(team, owner):
    body = {"email": "not-an-email", "role": "viewer"}
    first = post(owner, invitations_url(team.org), body, key="bad-email")
    assert_error(first, 400)
    second = post(owner, invitations_url(team.org), body, key="bad-email")
    assert second.status_code == 400 and second.json() == first.json()
    assert second[REPLAYED] == "true"
    assert IdempotencyRecord.objects.for_org(team.org).filter(key="bad-email").count() == 1
    assert invitations(team.org) == 0


@pytest.mark.django_db
def test_a_replay_is_still_subject_to_the_callers_current_role(team, client_for):
    admin = client_for(team.admin)
    body = {"email": "ana@example.com"}
    assert post(admin, invitations_url(team.org), body, key="k").status_code == 201
    Membership.objects.for_org(team.org).filter(user=team.admin).update(role=Role.VIEWER)
    assert_error(post(admin, invitations_url(team.org), body, key="k"), 403, "role_too_low")


# --- scope of a key -----------------------------------------------------------------------


@pytest.mark.django_db
def test_keys_are_per_credential(team, client_for):
    """The same Idempotency-Key from another person, or from the same person's API key,
    is a different request."""
    body = {"name": "same", "scopes": ["read"]}
    credentials = [
        reauthenticated_client(team.owner),
        reauthenticated_client(team.admin),
        key_client(issue_key(team.org, team.owner, name="first")),
        key_client(issue_key(team.org, team.owner, name="second")),
    ]
    before = ApiKey.objects.for_org(team.org).count()
    for client in credentials:
        response = post(client, keys_url(team.org), body, key="same-key")
        assert response.status_code == 201 and REPLAYED not in response
    assert ApiKey.objects.for_org(team.org).count() == before + len(credentials)
    credentials_stored = set(
        IdempotencyRecord.objects.for_org(team.org).filter(key="same-key").values_list("credential", flat=True)
    )
    assert len(credentials_stored) == len(credentials)


@pytest.mark.django_db
def test_keys_are_per_organization(team, other_team, client_for):
    Membership.objects.create(organization=other_team.org, user=team.owner, role=Role.OWNER)
    client = reauthenticated_client(team.owner)
    body = {"name": "same", "scopes": ["read"]}
    assert post(client, keys_url(team.org), body, key="k").status_code == 201
    response = post(client, keys_url(other_team.org), body, key="k")
    assert response.status_code == 201 and REPLAYED not in response
    assert ApiKey.objects.for_org(other_team.org).filter(user=team.owner).count() == 1


# --- lifetime -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_key_older_than_24_hours_no_longer_applies(team, owner):
    body = {"name": "daily", "scopes": ["read"]}
    assert post(owner, keys_url(team.org), body, key="daily").status_code == 201
    IdempotencyRecord.objects.for_org(team.org).filter(key="daily").update(
        created_at=timezone.now() - timedelta(hours=24, seconds=1)
    )
    again = post(owner, keys_url(team.org), {"name": "another body is fine now", "scopes": ["read"]}, key="daily")
    assert again.status_code == 201 and REPLAYED not in again
    assert ApiKey.objects.for_org(team.org).count() == 2
    assert IdempotencyRecord.objects.for_org(team.org).filter(key="daily").count() == 1


@pytest.mark.django_db
def test_a_key_just_under_24_hours_old_still_replays(team, owner):
    body = {"name": "daily", "scopes": ["read"]}
    first = post(owner, keys_url(team.org), body, key="daily")
    IdempotencyRecord.objects.for_org(team.org).filter(key="daily").update(
        created_at=timezone.now() - timedelta(hours=23, minutes=59)
    )
    again = post(owner, keys_url(team.org), body, key="daily")
    assert again[REPLAYED] == "true" and again.json()["id"] == first.json()["id"]


@pytest.mark.django_db
def test_purging_removes_only_records_past_24_hours(team, other_team, owner, client_for):
    for index in range(3):
        post(owner, keys_url(team.org), {"name": f"k{index}", "scopes": ["read"]}, key=f"k{index}")
    post(reauthenticated_client(other_team.owner), keys_url(other_team.org), {"name": "b", "scopes": ["read"]}, key="b")
    records = IdempotencyRecord.all_objects
    assert records.count() == 4
    old = timezone.now() - timedelta(hours=25)
    records.filter(key__in=["k0", "b"]).update(created_at=old)

    assert idempotency_records_purge() == 2
    assert set(records.values_list("key", flat=True)) == {"k1", "k2"}
    assert idempotency_records_purge() == 0

    records.filter(key="k1").update(created_at=old)
    assert purge_task.delay().get() == 1  # the scheduled task does the same
    assert set(records.values_list("key", flat=True)) == {"k2"}


# --- bad headers, failures ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["x" * 256, "   "])
def test_an_invalid_idempotency_key_is_400_and_stores_nothing(team, owner, bad):
    before = stored_rows()
    response = post(owner, keys_url(team.org), {"name": "x", "scopes": ["read"]}, key=bad)
    assert_error(response, 400, "invalid_idempotency_key")
    assert stored_rows() == before


@pytest.mark.django_db
def test_a_255_character_key_is_accepted(team, owner):
    response = post(owner, keys_url(team.org), {"name": "x", "scopes": ["read"]}, key="k" * 255)
    assert response.status_code == 201


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=TEST_URLCONF)
def test_a_5xx_is_not_stored_and_rolls_back_what_the_request_wrote(team):
    client = Client(raise_request_exception=False)
    client.force_login(team.owner)
    path = f"/api/v1/orgs/{team.org.slug}/explode/"
    for _attempt in range(2):  # the repeat runs again: no stored 500, no "in progress"
        assert_error(post(client, path, {"fail": True}, key="boom"), 500, "server_error")
    assert IdempotencyRecord.objects.for_org(team.org).count() == 0
    assert not AuditEvent.objects.for_org(team.org).filter(action=EXPLODING_ACTION).exists()
    # Once the bug is gone, the same key does the work once.
    assert post(client, path, {"fail": False}, key="boom").status_code == 201
    assert post(client, path, {"fail": False}, key="boom")[REPLAYED] == "true"
    assert AuditEvent.objects.for_org(team.org).filter(action=EXPLODING_ACTION).count() == 1


# --- concurrency --------------------------------------------------------------------------


def _second_connection() -> psycopg.Connection:
    params = connection.get_connection_params()
    wanted = {name: params[name] for name in ("dbname", "user", "password", "host", "port") if params.get(name)}
    return psycopg.connect(**wanted, autocommit=True)


@pytest.mark.django_db(transaction=True)
def test_a_repeat_while_the_first_is_still_running_is_409(team, client_for):
    client = reauthenticated_client(team.owner)
    lock_name = f"idempotency:{team.org.pk}:user:{team.owner.pk}:slow-key"
    body = {"name": "slow", "scopes": ["read"]}
    with _second_connection() as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [lock_name])
        before = stored_rows()
        response = post(client, keys_url(team.org), body, key="slow-key")
        assert_error(response, 409, "idempotency_in_progress")
        assert stored_rows() == before
        # Another key of the same caller is not held up.
        assert post(client, keys_url(team.org), body, key="other-key").status_code == 201
        other.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [lock_name])
    response = post(client, keys_url(team.org), body, key="slow-key")
    assert response.status_code == 201 and REPLAYED not in response
    assert ApiKey.objects.for_org(team.org).filter(name="slow").count() == 2


@pytest.mark.django_db(transaction=True)
def test_an_api_key_caller_is_locked_under_its_key_credential(team):
    issued = issue_key(team.org, team.owner)
    lock_name = f"idempotency:{team.org.pk}:key:{issued.api_key.pk}:k"
    with _second_connection() as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [lock_name])
        response = post(key_client(issued), keys_url(team.org), {"name": "x", "scopes": ["read"]}, key="k")
        assert_error(response, 409, "idempotency_in_progress")
    # Closing the other session released its lock.
    assert post(key_client(issued), keys_url(team.org), {"name": "x", "scopes": ["read"]}, key="k").status_code == 201


# --- transient answers are not stored -------------------------------------------------------


@pytest.mark.django_db
def test_reauthentication_required_is_not_stored(team, client_for):
    session = client_for(team.owner)  # signed in, but no recent password confirmation
    body = {"name": "after confirming", "scopes": ["read"]}
    assert_error(post(session, keys_url(team.org), body, key="k"), 403, "reauthentication_required")
    assert not IdempotencyRecord.objects.for_org(team.org).filter(key="k").exists()
    from accounts.tests.factories import PASSWORD

    session.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    again = post(session, keys_url(team.org), body, key="k")
    assert again.status_code == 201 and REPLAYED not in again
    assert ApiKey.objects.for_org(team.org).filter(name="after confirming").count() == 1


@pytest.mark.django_db
def test_a_conflict_is_not_stored_and_a_retry_after_it_is_resolved_succeeds(team, owner):
    body = {"email": "ana@example.com", "role": "viewer"}
    assert post(owner, invitations_url(team.org), body).status_code == 201
    assert_error(post(owner, invitations_url(team.org), body, key="invite-again"), 409)
    Invitation.objects.for_org(team.org).update(status=Invitation.Status.REVOKED)
    again = post(owner, invitations_url(team.org), body, key="invite-again")
    assert again.status_code == 201 and REPLAYED not in again


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=TEST_URLCONF)
@pytest.mark.parametrize("status", [401, 403, 409, 429])
def test_a_transient_4xx_is_not_stored(team, status):
    client = Client()
    client.force_login(team.owner)
    path = f"/api/v1/orgs/{team.org.slug}/explode/"
    assert post(client, path, {"answer": status}, key="transient").status_code == status
    assert not IdempotencyRecord.objects.for_org(team.org).exists()
    assert REPLAYED not in post(client, path, {"answer": status}, key="transient")


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=TEST_URLCONF)
@pytest.mark.parametrize("status", [400, 404, 422])
def test_a_lasting_4xx_is_stored_and_replayed(team, status):
    client = Client()
    client.force_login(team.owner)
    path = f"/api/v1/orgs/{team.org.slug}/explode/"
    assert post(client, path, {"answer": status}, key="lasting").status_code == status
    assert post(client, path, {"answer": status}, key="lasting")[REPLAYED] == "true"


# --- every create honours the key (patterns/tests/test_corpora_idempotency.py: corpora, headlines) ----


def _creating_operations() -> list[tuple[str, type, str]]:
    """(path, view class, action) of every POST the schema documents as answering 201."""
    from django.urls import resolve
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for route, operations in schema["paths"].items():
        post_operation = operations.get("post")
        if post_operation and "201" in post_operation["responses"]:
            concrete = route.replace("{org_slug}", "some-org").replace("{id}", "1").replace("{corpus_id}", "1")
            match = resolve(concrete)
            action = (getattr(match.func, "actions", None) or {}).get("post", "post")
            found.append((route, match.func.cls, action))
    return found


def test_every_operation_that_creates_honours_idempotency_key():
    operations = _creating_operations()
    assert len(operations) >= 6  # members' invitations, keys, webhooks, exchange accounts, corpora, headlines
    forgetful = [route for route, view, action in operations if action not in view.idempotent_actions]
    assert forgetful == []
