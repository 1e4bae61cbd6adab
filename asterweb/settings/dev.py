"""Local development (`make run`)."""

from .base import *  # noqa: F403
from .base import CONTENT_SECURITY_POLICY, env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-secret-key-change-me-0123456789abcdef")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

API_KEY_HMAC_SECRET = env.str("API_KEY_HMAC_SECRET", default="dev-only-api-key-hmac-secret")

# A fixed key so encrypted values survive restarts of `make run`; never used in production.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=["mMWoZpocluj5p-vckZPXq4YKtHkhCWzgSDUaT-e432Q="])

PATTERNS_PUBLIC_CORPORA = env.bool("PATTERNS_PUBLIC_CORPORA", default=True)

# `make run` serves websockets from uvicorn on WS_PORT (8001), beside gunicorn's port.
CONTENT_SECURITY_POLICY["DIRECTIVES"]["connect-src"] += [
    f"ws://{host}:{env.str('WS_PORT', default='8001')}" for host in ("127.0.0.1", "localhost")
]
