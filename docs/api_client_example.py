"""A small AsterAI API client that needs nothing but ``requests``.

It shows the API's conventions (docs/api.md) in working code:

- authenticate with ``Authorization: Bearer <API key>``;
- follow cursor pagination (``next`` links) to read a whole list;
- create an invitation with an ``Idempotency-Key`` and retry it safely: a retry after a lost
  response or a 5xx reuses the same key, so the invitation is created at most once;
- on ``429 Too Many Requests`` wait ``Retry-After`` seconds and try again;
- turn error responses (``{"type", "code", "detail", "fields"}``) into ``ApiError``.

Run it against a server (the key needs the ``admin`` scope to invite):

    ASTERAI_URL=http://127.0.0.1:8000 ASTERAI_API_KEY=ak_live_... ASTERAI_ORG=demo \\
        python docs/api_client_example.py [email-to-invite]

accounts/tests/test_api_client_example.py runs these functions against a live test server,
so this file cannot silently fall out of date.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import requests

RETRYABLE_STATUSES = {500, 502, 503, 504}


class ApiError(Exception):
    """An error response, in the API's one error shape."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.type = body.get("type", "api_error")
        self.code = body.get("code", "unknown")
        self.detail = body.get("detail", "")
        self.fields: dict[str, list[str]] = body.get("fields") or {}
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"{self.status} {self.type} ({self.code}): {self.detail}"]
        lines += [f"  {field}: {' '.join(messages)}" for field, messages in sorted(self.fields.items())]
        return "\n".join(lines)


class AsterClient:
    """``base_url`` is the site (``https://app.example.com``); ``org`` the organization's slug,
    the only organization an API key works in."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        org: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        max_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.org = org
        self.session = session or requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {api_key}", "Accept": "application/json"})
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.sleep = sleep

    # --- the one request loop ------------------------------------------------------------

    def request(
        self, method: str, url: str, *, json: Any = None, params: dict | None = None, idempotency_key: str | None = None
    ) -> Any:
        """Send a request and return its JSON body (None for 204). Waits out 429s; retries network
        errors and 5xx only when that is safe: a GET, or a POST that carries an Idempotency-Key."""
        if not url.startswith("http"):
            url = f"{self.base_url}/api/v1/{url.lstrip('/')}"
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        retry_is_safe = method == "GET" or idempotency_key is not None
        for attempt in range(1, self.max_attempts + 1):
            last_attempt = attempt == self.max_attempts
            try:
                response = self.session.request(
                    method, url, json=json, params=params, headers=headers, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout):
                if not retry_is_safe or last_attempt:
                    raise
                self.sleep(min(2 ** (attempt - 1), 30))  # 1, 2, 4 ... seconds
                continue
            if response.status_code == 429 and not last_attempt:
                self.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status_code in RETRYABLE_STATUSES and retry_is_safe and not last_attempt:
                self.sleep(min(2 ** (attempt - 1), 30))
                continue
            return self._body(response)
        raise AssertionError("unreachable")  # the last attempt always returns or raises

    @staticmethod
    def _body(response: requests.Response) -> Any:
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"detail": response.text[:200]}
            raise ApiError(response.status_code, body)
        return None if response.status_code == 204 else response.json()

    def paginate(self, url: str, params: dict | None = None) -> Iterator[dict]:
        """Every item of a list, following the cursor ``next`` links page by page."""
        page = self.request("GET", url, params=params)
        while True:
            yield from page["results"]
            if not page["next"]:
                return
            page = self.request("GET", page["next"])  # the cursor link already carries the query

    # --- a few endpoints ---------------------------------------------------------------------

    def me(self) -> dict:
        return self.request("GET", "me")

    def list_members(self, *, page_size: int | None = None) -> list[dict]:
        params = {"page_size": page_size} if page_size else None
        return list(self.paginate(f"orgs/{self.org}/members/", params))

    def create_invitation(self, email: str, role: str = "viewer", *, idempotency_key: str | None = None) -> dict:
        """Invite ``email``. One Idempotency-Key for every attempt, so retrying cannot invite twice."""
        key = idempotency_key or str(uuid.uuid4())
        return self.request(
            "POST", f"orgs/{self.org}/invitations/", json={"email": email, "role": role}, idempotency_key=key
        )


def main(argv: list[str]) -> int:
    client = AsterClient(os.environ["ASTERAI_URL"], os.environ["ASTERAI_API_KEY"], os.environ["ASTERAI_ORG"])
    try:
        me = client.me()
        print(f"Signed in as {me['user']['email']} with key {me['credential']['api_key_prefix']}")
        for member in client.list_members():
            print(f"  {member['role']:<7} {member['user']['email']}")
        if argv:
            invitation = client.create_invitation(argv[0])
            print(f"Invited {invitation['email']} as {invitation['role']} (expires {invitation['expires_at']})")
    except ApiError as error:
        print(f"The API refused: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
