"""API authentication: ``Authorization: Bearer ak_live_...`` keys, and the browser session."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions

from accounts.models import ApiKey, User
from accounts.request_context import client_ip
from accounts.services.api_keys import ApiKeyRejected, api_key_authenticate
from asterweb.errors import PermissionDeniedError


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[User, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        credential = credential.strip()
        if not credential or " " in credential:
            raise exceptions.AuthenticationFailed(
                "Send the API key as “Authorization: Bearer <key>”.", "invalid_header"
            )
        try:
            api_key = api_key_authenticate(raw_key=credential, ip=client_ip(request._request))
        except ApiKeyRejected as error:
            raise exceptions.AuthenticationFailed(error.detail, error.code) from error
        except PermissionDeniedError as error:
            raise exceptions.PermissionDenied(error.detail, error.code) from error
        return api_key.user, api_key

    def authenticate_header(self, request: Any) -> str:
        return f'{self.keyword} realm="api"'


class SessionAuthentication(authentication.SessionAuthentication):
    """The signed-in browser, with Django's CSRF protection on unsafe methods."""
