"""gunicorn settings for the lab.

Workers x threads: the views spend most of their time waiting on PgBouncer and Redis, so each
process runs gthread workers that overlap those waits; processes ~ cores + 1 keep both cores
busy without thrashing. Argon2 logins are CPU-bound, which is why threads do not go higher.
"""

from __future__ import annotations

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 10
keepalive = 5
# Bounded worker lifetime would hide leaks that a soak must find, so it stays off by default.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
wsgi_app = "config.wsgi:application"
