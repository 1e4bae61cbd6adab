"""URLs of the webhook pages: ``org_patterns`` under ``/o/<org_slug>/``, ``public_patterns`` at the root."""

from django.urls import path

from accounts.webhooks import views

org_patterns = [
    path("webhooks/", views.webhook_list, name="webhook_list"),
    path("webhooks/new/", views.webhook_create, name="webhook_create"),
    path("webhooks/<int:endpoint_id>/", views.webhook_detail, name="webhook_detail"),
    path("webhooks/<int:endpoint_id>/delete/", views.webhook_delete, name="webhook_delete"),
    path("webhooks/<int:endpoint_id>/test/", views.webhook_test, name="webhook_test"),
    path("webhooks/<int:endpoint_id>/rotate-secret/", views.webhook_rotate_secret, name="webhook_rotate_secret"),
    path("webhooks/deliveries/", views.webhook_deliveries, name="webhook_deliveries"),
    path("webhooks/deliveries/<int:delivery_id>/", views.webhook_delivery_detail, name="webhook_delivery_detail"),
    path("webhooks/deliveries/<int:delivery_id>/redeliver/", views.webhook_redeliver, name="webhook_redeliver"),
]

public_patterns = [
    path("docs/webhooks/", views.webhooks_docs, name="webhooks_docs"),
]
