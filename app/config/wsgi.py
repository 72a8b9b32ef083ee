"""WSGI entry point for gunicorn: `gunicorn -c config/gunicorn.conf.py config.wsgi:application`."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.perf")

from jewelry.observability.tracing import configure_tracing

# gunicorn imports this module in each worker after fork (no preload_app), which is exactly
# where the batch span processor's thread must start.
configure_tracing()
application = get_wsgi_application()
