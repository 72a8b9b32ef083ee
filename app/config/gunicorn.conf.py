"""gunicorn settings for the lab.

Workers x threads: the views spend most of their time waiting on PgBouncer and Redis, so each
process runs gthread workers that overlap those waits; processes ~ cores + 1 keep both cores
busy without thrashing. Argon2 logins are CPU-bound, which is why threads do not go higher.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# prometheus_client reads this when first imported: it must be set in the master, before fork.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="jewelry-prom-")

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
# Tracing starts in each worker when it imports config.wsgi; preloading would start the span
# processor's thread in the master, where fork() would leave it dead.
preload_app = False
# The control socket's default path is one per user, so two lab apps on one machine (tests run
# several) would fight over it; the lab never uses gunicornc.
control_socket_disable = True


def on_starting(server) -> None:
    """Metrics files of a previous run would be summed into this one: start empty."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
