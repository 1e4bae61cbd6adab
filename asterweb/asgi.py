"""ASGI entry point: uvicorn serves websockets under /ws/ (HTTP is gunicorn's job,
but the same application answers HTTP too, for tools and tests)."""

import os

from django.core.asgi import get_asgi_application

from asterweb.settings import settings_module_required

settings_module_required()
# As for gunicorn (asterweb/gunicorn_conf.py): web requests get a statement timeout.
os.environ.setdefault("DB_STATEMENT_TIMEOUT_SECONDS", "30")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402

from asterweb.request_limits import body_limited_asgi  # noqa: E402
from asterweb.routing import websocket_urlpatterns  # noqa: E402

# Sessions only: consumers check the session's user themselves (accounts.consumers.events_access),
# read only. Channels' AuthMiddleware would flush a session signed under a SECRET_KEY_FALLBACKS
# key, signing the browser out during a key rotation.
application = ProtocolTypeRouter(
    {
        "http": body_limited_asgi(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(SessionMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
