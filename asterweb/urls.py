from django.contrib import admin
from django.urls import include, path

from accounts.webhooks import urls as webhook_urls
from asterweb import health, views
from patterns import urls as patterns_urls
from trading import urls as trading_urls

urlpatterns = [
    path("", views.landing, name="landing"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("", include("asterweb.api")),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("o/<slug:org_slug>/", include(trading_urls.org_patterns)),
    path("o/<slug:org_slug>/patterns/", include(patterns_urls.org_patterns)),
    path("", include(webhook_urls.public_patterns)),
    path("", include("django_prometheus.urls")),
]

handler400 = "asterweb.views.error_400"
handler403 = "asterweb.views.error_403"
handler404 = "asterweb.views.error_404"
handler500 = "asterweb.views.error_500"
