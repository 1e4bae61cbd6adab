"""The content security policy lets pages open websockets to this site only."""

from __future__ import annotations

import pytest
from django.conf import settings

from asterweb.settings.base import websocket_origins


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.django_db
def test_pages_may_open_websockets_to_this_site_only(client):
    connect = directives(client.get("/accounts/login/")["Content-Security-Policy"])["connect-src"]
    assert "ws:" not in connect and "wss:" not in connect  # not every host
    host = settings.SITE_URL.split("://", 1)[1].split("/", 1)[0]
    assert any(source.endswith(f"://{host}") and source.startswith("ws") for source in connect)
    assert all(source == "'self'" or source.startswith(("ws://", "wss://")) for source in connect)


@pytest.mark.parametrize(
    ("site_url", "expected"),
    [
        ("https://asterai.example.com", ["wss://asterai.example.com"]),
        ("https://asterai.example.com/", ["wss://asterai.example.com"]),
        ("http://127.0.0.1:8000", ["ws://127.0.0.1:8000"]),
    ],
)
def test_the_websocket_origin_follows_the_site_url(site_url, expected):
    assert websocket_origins(site_url) == expected
