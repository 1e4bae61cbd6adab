"""WSGI entry point (gunicorn serves HTTP)."""

import os

from django.core.wsgi import get_wsgi_application

from asterweb.settings import settings_module_required

settings_module_required()
# Web workers run requests side by side, so the news encoder (a text search embeds its query)
# runs on one thread per process: with two, concurrent searches fought over the cores
# (bench/patterns_api.py, 2 clients: p50 66 ms -> 38 ms, 8 clients: 36 -> 52 searches/s).
os.environ.setdefault("PATTERNS_ONNX_THREADS", "1")
# ...and one encoder stream per core, so a worker's threads encode side by side instead of queueing
# behind one stream (two callers in one process: ~480 -> ~950 encodings/s on this 2-core machine).
os.environ.setdefault("PATTERNS_ENCODER_STREAMS", "cores")

application = get_wsgi_application()
