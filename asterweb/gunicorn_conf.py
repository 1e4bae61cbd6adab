"""gunicorn settings shared by ``make run`` (scripts/run.py), the Docker image and docker-compose
(``gunicorn -c asterweb/gunicorn_conf.py ...``; the command line adds the bind address and logs).

Worker processes rather than threads carry the concurrency: a search spends most of its Python
time holding the GIL, so two requests in one process take turns. bench/patterns_api.py on this
2-core machine, uncached searches from two clients: 2 workers x 4 threads gave p50 31 ms at
63 searches/s, 4 workers x 2 threads p50 25 ms at 79/s. Each worker holds its own sentence
encoder (~225 MB more resident memory), so on small hosts lower ``WEB_WORKERS``.
"""

import os

from gunicorn import glogging


def _setting(name: str, default: int) -> int:
    configured = os.environ.get(name, "").strip()
    if not configured:
        return default
    value = int(configured)  # a malformed value stops gunicorn at start-up with the variable's text
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return value


def _cores() -> int:
    # As patterns.encoders.news.usable_cores; gunicorn reads this file before the project is on
    # sys.path (the `gunicorn` script's own directory is), so it imports nothing of ours.
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# Web requests get a statement timeout (asterweb/settings/base.py: workers and migrations keep none),
# so a slow query cannot hold a worker thread indefinitely; set the variable to override.
os.environ.setdefault("DB_STATEMENT_TIMEOUT_SECONDS", "30")

worker_class = "gthread"
workers = _setting("WEB_WORKERS", min(8, 2 * _cores()))
threads = _setting("WEB_THREADS", 2)


class RequestLogOnlyLogger(glogging.Logger):
    """gunicorn's logger without its access log: access lines print raw paths, and paths carry
    secrets (password-reset and email-confirmation keys, invitation tokens). Requests are logged
    once, by asterweb.logging.RequestLogMiddleware (the route, never the path, and redacted),
    whatever ``--access-logfile`` a command line passes."""

    def access(self, *_args, **_kwargs) -> None:
        return None


logger_class = RequestLogOnlyLogger
accesslog = None
