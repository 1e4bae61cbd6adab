"""The test suite: its own database (pytest-django's test_<name>) and its own Redis logical database."""

from urllib.parse import urlsplit, urlunsplit

from asterweb.redis import cache_config, channel_layer_config

from .base import *  # noqa: F403
from .base import DATABASES, REDIS_TIMEOUT_SECONDS, REDIS_URL, env

SECRET_KEY = "test-secret-key-not-for-production-0123456789abcdefghijklmnop"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]


def _with_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = "&".join(p for p in parts.query.split("&") if p and not p.startswith("db="))
        return urlunsplit(parts._replace(query=(query + "&" if query else "") + f"db={db}"))
    return urlunsplit(parts._replace(path=f"/{db}"))


TEST_REDIS_DB = env.int("TEST_REDIS_DB", default=15)
REDIS_URL = _with_redis_db(REDIS_URL, TEST_REDIS_DB)
CACHES = {"default": cache_config(REDIS_URL, timeout_seconds=REDIS_TIMEOUT_SECONDS, key_prefix="asterai-test")}
CHANNEL_LAYERS = {"default": channel_layer_config(REDIS_URL, timeout_seconds=REDIS_TIMEOUT_SECONDS)}
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True

# Several suites may share one server (parallel sessions): TEST_DATABASE_NAME keeps them apart.
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_asterai")}

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "reset_password": "20/m/ip,5/m/key",
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

API_KEY_HMAC_SECRET = env.str("API_KEY_HMAC_SECRET", default="test-only-api-key-hmac-secret")

FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=["iGuL-oqyvSKuAkfuW5Tcj71kQatCWibbnnv-UC1awGY="])
# Webhook tests deliver to receivers on loopback over plain HTTP.
WEBHOOK_ALLOW_HTTP = True
WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8", "::1/128"]

PATTERNS_PUBLIC_CORPORA = True
