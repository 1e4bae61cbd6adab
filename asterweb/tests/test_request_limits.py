"""Bounded request bodies everywhere: a body over its view's limit is a 413 before anything
reads it (pages, uploads and the API alike), an uploaded file stops being spooled past
UPLOAD_MAX_BYTES, ASGI stops reading past the largest limit, and the proxy caps bodies too.
One setting, UPLOAD_MAX_BYTES, is the cap the help text, the page and the API all state."""

from __future__ import annotations

import asyncio
import io
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from accounts.tests.api_helpers import issue_key, key_client
from asterweb.request_limits import UPLOAD_FORM_OVERHEAD_BYTES, body_limited_asgi
from patterns.models import Headline
from patterns.services.corpora import corpus_create

pytestmark = pytest.mark.django_db

CADDYFILE = Path(settings.BASE_DIR) / "deploy" / "Caddyfile"


class UnreadableBody(io.RawIOBase):
    """A request body that fails the test if anyone reads it."""

    def read(self, *args, **kwargs):
        raise AssertionError("the body was read")

    readline = read


def post_unread(client, path: str, *, length: int, content_type: str = "application/x-www-form-urlencoded"):
    """POST claiming ``length`` bytes whose reading fails the test."""
    return client.generic(
        "POST", path, b"", content_type=content_type, CONTENT_LENGTH=str(length), **{"wsgi.input": UnreadableBody()}
    )


def page_text(response) -> str:
    return response.content.decode().replace("\xa0", " ")  # sizes are written with no-break spaces


@pytest.fixture
def private(team):
    return corpus_create(organization=team.org, user=team.owner, name="Desk notes")


def upload_url(team, corpus) -> str:
    return reverse("patterns_corpus_upload", kwargs={"org_slug": team.org.slug, "corpus_id": corpus.pk})


def headlines_api_url(team, corpus) -> str:
    return f"/api/v1/orgs/{team.org.slug}/corpora/{corpus.pk}/headlines/"


def csv_of_size(size: int) -> bytes:
    """A valid headlines CSV of exactly ``size`` bytes (one long-ish headline padded with spaces)."""
    head = b"date,headline\n2021-03-01,Central bank raises rates"
    assert size >= len(head) + 1
    return head + b" " * (size - len(head) - 1) + b"\n"


# --- refused by Content-Length, before reading -----------------------------------------


def test_a_page_body_over_djangos_data_limit_is_413_before_it_is_read(team, client_for):
    client = client_for(team.owner)
    path = reverse("patterns_corpus_list", kwargs={"org_slug": team.org.slug})
    response = post_unread(client, path, length=settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    assert response.status_code == 413
    assert "too large" in response.content.decode().lower()


def test_an_anonymous_post_over_the_limit_is_413_before_csrf_reads_it(client):
    response = post_unread(client, reverse("account_login"), length=settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    assert response.status_code == 413


@override_settings(UPLOAD_MAX_BYTES=10_000)
def test_the_upload_page_refuses_a_body_over_the_upload_cap_before_reading_it(team, private, client_for):
    client = client_for(team.owner)
    allowed = 10_000 + 64 * 1024  # the file plus the form around it
    response = post_unread(client, upload_url(team, private), length=allowed + 1, content_type="multipart/form-data")
    assert response.status_code == 413
    assert Headline.objects.filter(corpus=private).count() == 0


@override_settings(UPLOAD_MAX_BYTES=10_000, API_MAX_BODY_BYTES=1_000)
def test_the_headlines_api_refuses_a_body_over_the_upload_cap_with_json(team, private):
    client = key_client(issue_key(team.org, team.owner))
    response = post_unread(client, headlines_api_url(team, private), length=10_000 + 64 * 1024 + 1)
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


@override_settings(API_MAX_BODY_BYTES=1_000)
def test_other_api_bodies_keep_the_api_limit(team):
    client = key_client(issue_key(team.org, team.owner))
    response = post_unread(client, f"/api/v1/orgs/{team.org.slug}/api-keys/", length=1_001)
    assert response.status_code == 413
    assert "1000 bytes" in response.json()["detail"]


# --- files stop being spooled past UPLOAD_MAX_BYTES -------------------------------------


@override_settings(UPLOAD_MAX_BYTES=2_000)
def test_the_upload_page_accepts_a_file_of_exactly_the_cap(team, private, client_for):
    upload = SimpleUploadedFile("events.csv", csv_of_size(2_000), content_type="text/csv")
    response = client_for(team.owner).post(upload_url(team, private), {"file": upload})
    assert response.status_code == 200
    assert Headline.objects.filter(corpus=private).count() == 1


@override_settings(UPLOAD_MAX_BYTES=2_000)
def test_the_upload_page_refuses_a_file_one_byte_over_the_cap(team, private, client_for):
    upload = SimpleUploadedFile("events.csv", csv_of_size(2_001), content_type="text/csv")
    response = client_for(team.owner).post(upload_url(team, private), {"file": upload})
    assert response.status_code == 413
    assert "2.0 KB" in page_text(response)  # the cap, as people read it
    assert Headline.objects.filter(corpus=private).count() == 0


@override_settings(UPLOAD_MAX_BYTES=2_000)
def test_the_headlines_api_refuses_a_file_one_byte_over_the_cap(team, private):
    client = key_client(issue_key(team.org, team.owner))
    upload = SimpleUploadedFile("events.csv", csv_of_size(2_001), content_type="text/csv")
    response = client.post(headlines_api_url(team, private), {"file": upload})
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    assert Headline.objects.filter(corpus=private).count() == 0


@override_settings(UPLOAD_MAX_BYTES=50_000, API_MAX_BODY_BYTES=1_000)
def test_the_headlines_api_takes_json_bodies_up_to_the_upload_cap_not_the_api_limit(team, private):
    client = key_client(issue_key(team.org, team.owner))
    rows = [{"day": f"2021-03-{day:02d}", "text": f"Headline number {day} " + "x" * 200} for day in range(1, 29)]
    body = json.dumps({"headlines": rows})
    assert 1_000 < len(body) < 50_000
    response = client.post(headlines_api_url(team, private), body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["inserted"] == 28


def test_a_file_over_the_cap_is_refused_by_its_size_even_without_the_upload_handler(team, private, client_for):
    """The form checks the size before the view reads the file (the handler is the first line)."""
    handlers = [h for h in settings.FILE_UPLOAD_HANDLERS if not h.endswith("UploadSizeLimitHandler")]
    upload = SimpleUploadedFile("events.csv", csv_of_size(2_001), content_type="text/csv")
    with override_settings(UPLOAD_MAX_BYTES=2_000, FILE_UPLOAD_HANDLERS=handlers):
        response = client_for(team.owner).post(upload_url(team, private), {"file": upload})
    assert response.status_code == 400
    assert "2,001 bytes" in response.content.decode()
    assert Headline.objects.filter(corpus=private).count() == 0


# --- the one setting the help text states -----------------------------------------------


@override_settings(UPLOAD_MAX_BYTES=3 * 1024 * 1024)
def test_the_upload_help_text_states_the_setting(team, private, client_for):
    detail = reverse("patterns_corpus_detail", kwargs={"org_slug": team.org.slug, "corpus_id": private.pk})
    html = page_text(client_for(team.owner).get(detail))
    assert "Up to 3.0 MB." in html
    assert "10 MB" not in html


def test_the_default_upload_cap_is_ten_mebibytes():
    assert settings.UPLOAD_MAX_BYTES == 10 * 1024 * 1024


# --- ASGI stops reading; the proxy caps bodies ------------------------------------------


def _asgi_post(chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[list[dict], list[dict]]:
    """Run one HTTP POST through the wrapped ASGI application; return what it sent and read."""
    app = body_limited_asgi(get_asgi_application())
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/accounts/login/",
        "raw_path": b"/accounts/login/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    incoming = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]
    incoming.append({"type": "http.request", "body": b"", "more_body": False})
    read, sent = [], []

    async def receive():
        if incoming:
            message = incoming.pop(0)
            read.append(message)
            return message
        await asyncio.sleep(3600)  # the client waits for the answer

    async def send(message):
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=20))
    return sent, read


@override_settings(UPLOAD_MAX_BYTES=1_000, API_MAX_BODY_BYTES=1_000, DATA_UPLOAD_MAX_MEMORY_SIZE=1_000)
def test_asgi_stops_reading_a_chunked_body_past_the_largest_limit():
    ceiling = 1_000 + UPLOAD_FORM_OVERHEAD_BYTES
    chunk = b"x" * 16_384
    chunks = [chunk] * (ceiling // len(chunk) + 10)  # no Content-Length: ten chunks past the ceiling
    sent, read = _asgi_post(chunks, headers=[])
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    bytes_read = sum(len(message["body"]) for message in read)
    assert bytes_read <= ceiling + len(chunk)  # it stopped at the first chunk past the ceiling


@override_settings(UPLOAD_MAX_BYTES=1_000, API_MAX_BODY_BYTES=1_000, DATA_UPLOAD_MAX_MEMORY_SIZE=1_000)
def test_asgi_refuses_a_declared_length_over_the_limit_without_reading():
    declared = str(1_000 + UPLOAD_FORM_OVERHEAD_BYTES + 1).encode()
    sent, read = _asgi_post([b"x"], headers=[(b"content-length", declared)])
    assert sent[0]["status"] == 413
    assert read == []


def _bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)\s*([KMG]i?B)", size).groups()
    powers = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "KB": 10**3, "MB": 10**6, "GB": 10**9}
    return int(number) * powers[unit]


def test_the_proxy_caps_bodies_just_above_the_largest_the_application_accepts():
    match = re.search(r"request_body\s*\{\s*max_size\s+(\S+)\s*\}", CADDYFILE.read_text())
    assert match, "deploy/Caddyfile sets no request_body max_size"
    cap = _bytes(match.group(1))
    largest = 10 * 1024 * 1024 + 64 * 1024  # the default upload cap plus the form around it
    assert largest <= cap <= 2 * largest
