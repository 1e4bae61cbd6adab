"""Opening the organization events websocket in tests, through the real ASGI application,
session cookies and channel layer (channels_redis on the test Redis)."""

from __future__ import annotations

import time

from channels.testing.websocket import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from asterweb.asgi import application

ORIGIN_HEADERS = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
# Item 4 of issue 11: a revoked socket closes (or stops getting events) within this many seconds.
REVOCATION_DEADLINE_SECONDS = 5.0


def cookie_of(client: Client) -> bytes:
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    return cookie_of(client)


def communicator(slug: str, cookie: bytes | None) -> WebsocketCommunicator:
    headers = list(ORIGIN_HEADERS)
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, f"/ws/o/{slug}/events/", headers=headers)


async def connect(slug: str, cookie: bytes | None) -> tuple[WebsocketCommunicator, bool, int | None]:
    ws = communicator(slug, cookie)
    connected, code = await ws.connect()
    return ws, connected, code


async def close_code(ws: WebsocketCommunicator, timeout: float = REVOCATION_DEADLINE_SECONDS) -> int:
    """Wait for the server to close the socket (events sent before the close are skipped);
    fails if it is still open after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"the socket was still open after {timeout} s")
        try:
            message = await ws.receive_output(timeout=remaining)
        except TimeoutError:
            raise AssertionError(f"the socket was still open after {timeout} s") from None
        if message["type"] == "websocket.close":
            await ws.disconnect()  # what the ASGI server does once the close handshake is done
            return message["code"]
