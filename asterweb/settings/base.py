"""Settings shared by every environment. Everything deployment-specific comes from
environment variables (any of them may instead name a file with ``<NAME>_FILE``)."""

from pathlib import Path

import environ

from asterweb.redis import broker_transport_options, cache_config, channel_layer_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.FileAwareEnv()
# `make services` writes the addresses of the database and Redis it started here.
_RUN_ENV = BASE_DIR / ".run" / "env"
if _RUN_ENV.exists():
    environ.Env.read_env(str(_RUN_ENV), overwrite=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
SITE_ID = 1
# Reverse proxies (CIDRs) whose X-Forwarded-For is believed; anyone else's is ignored.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_celery_beat",
    "channels",
    "django_prometheus",
    "django_htmx",
    "csp",
    "accounts",
    "billing",
    "trading",
    "patterns",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "asterweb.logging.RequestLogMiddleware",
    "accounts.request_context.RequestContextMiddleware",
    "asterweb.outages.OutageMiddleware",
    "asterweb.api_errors.ApiJsonErrorsMiddleware",  # /api/ errors are JSON even from Django's DEBUG pages
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "asterweb.request_limits.RequestBodyLimitMiddleware",  # before CSRF, which parses POST bodies
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "accounts.middleware.OrganizationMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "asterweb.urls"
WSGI_APPLICATION = "asterweb.wsgi.application"
ASGI_APPLICATION = "asterweb.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.navigation",
            ],
        },
    },
]

# ---- Outages: bounded waits for the database and Redis (README, "When Redis or the database is
# unreachable"). A connection attempt gives up after DB_CONNECT_TIMEOUT_SECONDS; a statement after
# DB_STATEMENT_TIMEOUT_SECONDS (0: never; the web servers default it to 30, workers keep none).
DB_CONNECT_TIMEOUT_SECONDS = env.int("DB_CONNECT_TIMEOUT_SECONDS", default=5)
DB_STATEMENT_TIMEOUT_SECONDS = env.int("DB_STATEMENT_TIMEOUT_SECONDS", default=0)


def database_config(url_config: dict) -> dict:
    """A DATABASES entry: kept-alive, health-checked connections with the timeouts above."""
    options = {"connect_timeout": DB_CONNECT_TIMEOUT_SECONDS}
    if DB_STATEMENT_TIMEOUT_SECONDS > 0:
        options["options"] = f"-c statement_timeout={DB_STATEMENT_TIMEOUT_SECONDS * 1000}"
    return {
        **url_config,
        "CONN_MAX_AGE": env.int("DB_CONN_MAX_AGE", default=60),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {**url_config.get("OPTIONS", {}), **options},
    }


# Every Redis client (cache, sessions, channel layer, Celery broker, asterweb.redis) gives up after
# REDIS_TIMEOUT_SECONDS; after a failure a process leaves that Redis alone for REDIS_RETRY_AFTER_SECONDS.
REDIS_TIMEOUT_SECONDS = env.float("REDIS_TIMEOUT_SECONDS", default=2.0)
REDIS_RETRY_AFTER_SECONDS = env.float("REDIS_RETRY_AFTER_SECONDS", default=5.0)
# ---- end of outages

DATABASES = {"default": database_config(env.db_url("DATABASE_URL", default="postgres://postgres@localhost/asterai"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {"default": cache_config(REDIS_URL, timeout_seconds=REDIS_TIMEOUT_SECONDS, key_prefix="asterai")}
# Database sessions cached in Redis; read from the database while Redis is unreachable (asterweb.sessions).
SESSION_ENGINE = "asterweb.sessions"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "app_home"

# django-allauth: email-only accounts, mandatory verification, TOTP + recovery codes.
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_FORMS = {
    "signup": "accounts.forms.SignupForm",
    "reset_password_from_key": "accounts.forms.ResetPasswordKeyForm",
    "change_password": "accounts.forms.ChangePasswordForm",
}
SIGNUP_OPEN = env.bool("SIGNUP_OPEN", default=True)  # false: invitation-only deployments
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = env.int("REAUTHENTICATION_TIMEOUT", default=300)
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[AsterAI] "
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "reauthenticate": "10/m/user",
    "confirm_email": "1/3m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "AsterAI"
MFA_RECOVERY_CODE_COUNT = 10
# The sessions page (/accounts/sessions/) lists each signed-in browser; ending one also closes its
# websockets (accounts.adapters.UserSessionsAdapter). Tracking activity updates "last seen" on
# every page load: one more database write per request, so it is off unless asked for.
USERSESSIONS_ADAPTER = "accounts.adapters.UserSessionsAdapter"
USERSESSIONS_TRACK_ACTIVITY = env.bool("USERSESSIONS_TRACK_ACTIVITY", default=False)
MFA_FORMS = {
    "deactivate_totp": "accounts.forms.DeactivateTOTPForm",
    "generate_recovery_codes": "accounts.forms.GenerateRecoveryCodesForm",
}

DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="AsterAI <no-reply@asterai.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# Bounded waits for the broker too: an enqueue that fails is logged, and a beat job recovers the work.
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(REDIS_TIMEOUT_SECONDS)
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_TIMEOUT_SECONDS
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 300
CELERY_TASK_TIME_LIMIT = 360
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # keep our JSON logging in workers
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "purge-deleted-organizations": {
        "task": "accounts.tasks.organizations_purge_due",
        "schedule": 3600.0,
    },
    "purge-idempotency-records": {
        "task": "accounts.tasks.idempotency_records_purge",
        "schedule": 3600.0,
    },
}

CHANNEL_LAYERS = {"default": channel_layer_config(REDIS_URL, timeout_seconds=REDIS_TIMEOUT_SECONDS)}
# Events websockets re-check the member's access this often (and at once when a service pushes a
# re-check), so a revoked member, session or organization loses the feed within 5 s; a socket is
# closed (code 4408: reconnect) at this age, which must stay below channels_redis' group_expiry (1 day).
WEBSOCKET_RECHECK_SECONDS = env.float("WEBSOCKET_RECHECK_SECONDS", default=3.0)
WEBSOCKET_MAX_AGE_SECONDS = env.int("WEBSOCKET_MAX_AGE_SECONDS", default=3600)

# The demo login `make run` seeds (never used under production settings).
DEMO_EMAIL = env.str("DEMO_EMAIL", default="demo@asterai.local")
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="asterai-demo-2026")

# API keys: the HMAC secret that keys their stored hashes (changing it invalidates every key),
# and how long a rotated key's previous secret keeps working.
API_KEY_HMAC_SECRET = env.str("API_KEY_HMAC_SECRET", default="")
API_KEY_ROTATION_GRACE_HOURS = env.int("API_KEY_ROTATION_GRACE_HOURS", default=24)

# REST API (/api/v1/)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api_auth.ApiKeyAuthentication",
        "accounts.api_auth.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["asterweb.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "asterweb.pagination.CursorPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "asterweb.filters.StrictFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.CredentialRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "asterweb.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AsterAI API",
    "DESCRIPTION": (
        "Programmatic access to AsterAI. Authenticate with `Authorization: Bearer <API key>`; a key "
        "belongs to one user in one organization and only works under `/api/v1/orgs/<slug>/`. "
        "Errors share one shape: `{type, code, detail, fields}`. POSTs that create something accept "
        "an `Idempotency-Key` header."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "accounts.roles.Role",
        "ScopeEnum": "accounts.models.Scope",
        "CredentialKindEnum": "trading.models.exchange_accounts.CREDENTIAL_KIND_CHOICES",
        "LiveCredentialKindEnum": "trading.models.exchange_accounts.LIVE_CREDENTIAL_KIND_CHOICES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "asterweb.api_errors.schema_lists_bad_input",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# Request bodies larger than this get a 413 under /api/ before anything parses them (except
# the endpoints that take uploads, which take up to UPLOAD_MAX_BYTES; asterweb.request_limits).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1_048_576)
# The largest uploaded file (headlines, on the page and through the API); help texts read it.
# Other pages' bodies are capped at DATA_UPLOAD_MAX_MEMORY_SIZE (Django's 2.5 MB).
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=10 * 1024 * 1024)
FILE_UPLOAD_HANDLERS = [
    "asterweb.request_limits.UploadSizeLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Default request rates (billing backs these with plan limits later): per API key and per signed-in user.
API_RATE_PER_KEY = env.str("API_RATE_PER_KEY", default="1200/min")
API_RATE_PER_USER = env.str("API_RATE_PER_USER", default="600/min")
IDEMPOTENCY_KEY_TTL_HOURS = 24

# Tenancy
ORGANIZATION_DELETION_GRACE_DAYS = env.int("ORGANIZATION_DELETION_GRACE_DAYS", default=30)
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)
# Invitation emails (sent or resent) per organization and per recipient address, per UTC day.
INVITATIONS_PER_ORGANIZATION_PER_DAY = env.int("INVITATIONS_PER_ORGANIZATION_PER_DAY", default=100)
INVITATIONS_PER_RECIPIENT_PER_DAY = env.int("INVITATIONS_PER_RECIPIENT_PER_DAY", default=5)

# Quotas, answered through accounts.limits.limit_check (billing registers plan entitlements there
# at start-up; until then these). MAX_SEATS_PER_ORGANIZATION unset: unlimited.
MAX_KEYS_PER_MEMBER = env.int("MAX_KEYS_PER_MEMBER", default=50)
MAX_ENDPOINTS_PER_ORGANIZATION = env.int("MAX_ENDPOINTS_PER_ORGANIZATION", default=20)
MAX_ORGANIZATIONS_PER_USER = env.int("MAX_ORGANIZATIONS_PER_USER", default=5)
MAX_SEATS_PER_ORGANIZATION = env.int("MAX_SEATS_PER_ORGANIZATION", default=None)

# Security headers


def websocket_origins(site_url: str) -> list[str]:
    """The websocket origin of a site URL: https://host -> wss://host, http://host:port -> ws://host:port."""
    scheme, _, rest = site_url.partition("://")
    host = rest.split("/", 1)[0]
    return [f"{'wss' if scheme == 'https' else 'ws'}://{host}"] if host else []


SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        # Websockets to this site only (not ws:/wss: anywhere): SITE_URL's origin, plus any WEBSOCKET_ORIGINS.
        "connect-src": ["'self'", *websocket_origins(SITE_URL), *env.list("WEBSOCKET_ORIGINS", default=[])],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
    }
}

# Encryption at rest (asterweb.crypto) for secrets the application must read back: comma-separated
# Fernet keys, newest first (the first encrypts, all decrypt). Production must set it.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# Outbound webhooks (accounts.webhooks). Destinations must be https and resolve to public
# addresses; WEBHOOK_ALLOWED_PRIVATE_NETWORKS (CIDRs) lets chosen private ranges through.
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=False)
WEBHOOK_ALLOWED_PRIVATE_NETWORKS = env.list("WEBHOOK_ALLOWED_PRIVATE_NETWORKS", default=[])
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env.float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=3.0)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_EVENT_RETENTION_DAYS = env.int("WEBHOOK_EVENT_RETENTION_DAYS", default=30)
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]["WebhookDeliveryStateEnum"] = (
    "accounts.webhooks.models.WebhookDelivery.State"
)
# Task modules outside an app's tasks.py, which autodiscovery does not find.
CELERY_IMPORTS = ["accounts.webhooks.tasks", "trading.marketdata.tasks"]
CELERY_TASK_ROUTES = {"accounts.webhooks.tasks.*": {"queue": "webhooks"}}
CELERY_BEAT_SCHEDULE["webhooks-sweep"] = {
    "task": "accounts.webhooks.tasks.webhooks_sweep",
    "schedule": 15.0,
    "options": {"queue": "webhooks", "expires": 15},
}
CELERY_BEAT_SCHEDULE["webhooks-purge-events"] = {
    "task": "accounts.webhooks.tasks.webhook_events_purge",
    "schedule": 86400.0,
    "options": {"queue": "webhooks"},
}

SENTRY_DSN = env.str("SENTRY_DSN", default="")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")

from asterweb.logging import configure_logging  # noqa: E402

LOGGING_CONFIG = None
configure_logging(level=LOG_LEVEL, json=env.bool("LOG_JSON", default=True))

if SENTRY_DSN:
    # Events pass the logs' redaction before they leave (asterweb.sentry, asterweb.logging.scrub_event).
    from asterweb.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
    )

CELERY_BEAT_SCHEDULE["ingest-candles"] = {
    "task": "trading.marketdata.tasks.ingest_enabled_series",
    "schedule": 300.0,
}
# Where the demo seed (and nothing in production) reads the public data sets from.
SHARED_DATA_DIR = env.path("SHARED_DATA_DIR", default=str(BASE_DIR.parent / "shared" / "data"))

# The paper exchange fills at the newest stored candle of this reference series (perpetual
# BTC/USDT:USDT reads BTC/USDT); ingestion keeps it current.
PAPER_PRICE_SOURCE = "trading.marketdata.prices.paper_price_source"
PAPER_REFERENCE_EXCHANGE = env.str("PAPER_REFERENCE_EXCHANGE", default="binance")
PAPER_REFERENCE_MARKET_TYPE = env.str("PAPER_REFERENCE_MARKET_TYPE", default="spot")
PAPER_REFERENCE_TIMEFRAME = env.str("PAPER_REFERENCE_TIMEFRAME", default="1h")
CELERY_BEAT_SCHEDULE["paper-accounts-advance"] = {
    "task": "trading.tasks.paper_accounts_advance",
    "schedule": 60.0,
}

# Pattern search. Public corpora include the Reddit WorldNews set (CC BY-NC-SA 4.0,
# non-commercial): off unless the deployment opts in; development and tests turn it on.
PATTERNS_PUBLIC_CORPORA = env.bool("PATTERNS_PUBLIC_CORPORA", default=False)
PATTERNS_DAILY_SEARCH_QUOTA = env.int("PATTERNS_DAILY_SEARCH_QUOTA", default=1000)
PATTERNS_SEARCH_CACHE_SECONDS = env.int("PATTERNS_SEARCH_CACHE_SECONDS", default=24 * 3600)
# A filtered day set at most this large is searched exactly; larger ones use the HNSW index.
PATTERNS_EXACT_SEARCH_LIMIT = env.int("PATTERNS_EXACT_SEARCH_LIMIT", default=20_000)
# ---- Outages: a corpus left "indexing" this long with no run holding it had its enqueue lost: send it again.
PATTERNS_INDEXING_STUCK_MINUTES = env.int("PATTERNS_INDEXING_STUCK_MINUTES", default=15)
CELERY_BEAT_SCHEDULE["patterns-requeue-stuck-indexing"] = {
    "task": "patterns.tasks.corpora_requeue_stuck",
    "schedule": 300.0,
    "options": {"expires": 300},
}
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]["PlanetEnum"] = "patterns.encoders.astro.PLANETS_THAT_RETROGRADE"
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]["MoonPhaseEnum"] = "patterns.encoders.astro.MOON_PHASES"
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]["ZodiacSignEnum"] = "patterns.encoders.astro.SIGNS"
