"""Outbound webhooks: organizations register HTTPS endpoints, events are signed and delivered
by Celery workers with retries, and every attempt is logged.

``services.webhook_emit`` is the one way the rest of the application sends an event.
"""
