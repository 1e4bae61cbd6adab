"""Celery jobs for outbound webhooks, routed to the ``webhooks`` queue (CELERY_TASK_ROUTES).
Each is safe to run twice or concurrently: deliveries are claimed with SKIP LOCKED, so
overlapping sweeps share the work."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from accounts.webhooks import delivery, services


@shared_task(name="accounts.webhooks.tasks.webhooks_sweep")
def webhooks_sweep() -> int:
    """Send every due delivery (beat runs this every 15 s; emitting an event enqueues one at once)."""
    return delivery.webhook_deliveries_send_due()


@shared_task(name="accounts.webhooks.tasks.webhook_events_purge")
def webhook_events_purge() -> int:
    """Delete events and their delivery logs past the retention period."""
    return services.webhook_events_purge(older_than=timedelta(days=settings.WEBHOOK_EVENT_RETENTION_DAYS))
