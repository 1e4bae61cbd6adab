"""How the API's authentication appears in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api_auth.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "ak_live_…",
            "description": "A per-user API key for one organization: `Authorization: Bearer ak_live_…`.",
        }


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api_auth.SessionAuthentication"
    name = "SessionAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "The signed-in browser session (unsafe methods also need the CSRF token).",
        }
