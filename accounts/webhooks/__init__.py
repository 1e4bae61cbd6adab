"""Outbound webhooks: organizations register HTTPS endpoints, events are signed and delivered
by Celery workers with retries, and every attempt is logged.

The rest of the application publishes events on the bus (``asterweb.events.event_publish``);
``services.webhook_event_queue`` subscribes to it.
"""
