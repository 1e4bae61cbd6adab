"""The /api/v1 URL map. Organization-scoped routes live under ``orgs/<org_slug>/``; each
app contributes ``api_org_urlpatterns`` (relative to that prefix) and may contribute
top-level ``api_urlpatterns``.

The documentation pages keep the site's strict Content-Security-Policy. Swagger UI is the
split view: its init script is a same-origin URL (``/api/docs/?script=``), not inline, and
templates/drf_spectacular/swagger_ui.html has no inline style. Redoc
(templates/drf_spectacular/redoc.html) has no inline code either, but its bundle needs three
things at run time, allowed for that one view only (see ``REDOC_CSP``).
"""

from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from accounts import api as accounts_api
from accounts import events_api
from accounts.webhooks import api as webhooks_api
from patterns import analysis_api
from patterns import api as patterns_api
from trading import api as trading_api

# What the Redoc bundle (drf-spectacular-sidecar's redoc.standalone.js) needs beyond 'self':
# - style-src: styled-components create an empty <style> at load time and fill it through
#   the CSSOM (insertRule, which CSP does not govern); the bundle also inserts
#   perfect-scrollbar's CSS as a <style>. Both happen while the bundle loads, before any
#   nonce could be handed over, so they are allowed by hash: the empty string's, and that
#   CSS text's. A sidecar upgrade that changes the CSS fails the browser test
#   (accounts/tests/test_browser_api_docs.py), which prints the new hash. No 'unsafe-inline'.
# - worker-src blob: the search index runs in a worker built from a blob: URL, which only a
#   script already running from this origin can create.
# - img-src: the "API docs by Redocly" link always shows this one image.
REDOC_CSP = {
    "style-src": [
        "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # "" (styled-components' sheet)
        "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",  # perfect-scrollbar's CSS
    ],
    "worker-src": ["'self'", "blob:"],
    "img-src": ["https://cdn.redoc.ly/redoc/logo-mini.svg"],
}

org_urlpatterns = [
    *accounts_api.api_org_urlpatterns,
    *events_api.api_org_urlpatterns,
    *webhooks_api.api_org_urlpatterns,
    *trading_api.api_org_urlpatterns,
    *patterns_api.api_org_urlpatterns,
    *analysis_api.api_org_urlpatterns,
]

v1_urlpatterns = [
    *accounts_api.api_urlpatterns,
    path("orgs/<slug:org_slug>/", include(org_urlpatterns)),
]

urlpatterns = [
    path("api/v1/", include(v1_urlpatterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
    path(
        "api/redoc/",
        csp_update(REDOC_CSP)(SpectacularRedocView.as_view(url_name="api_schema")),
        name="api_redoc",
    ),
]
