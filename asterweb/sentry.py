"""Error reporting to Sentry (when ``SENTRY_DSN`` is set)."""

from __future__ import annotations

from typing import Any

import sentry_sdk

from asterweb.logging import scrub_breadcrumb, scrub_event


def sentry_init(*, dsn: str, environment: str, traces_sample_rate: float = 0.0, transport: Any = None) -> None:
    """Start the SDK (settings call this; tests pass a capturing ``transport``). Everything sent
    passes the logs' redaction first (``asterweb.logging.scrub_event``)."""
    sentry_sdk.init(
        dsn=dsn,
        send_default_pii=False,
        traces_sample_rate=traces_sample_rate,
        environment=environment,
        transport=transport,
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
    )
