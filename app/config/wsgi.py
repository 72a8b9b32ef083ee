"""WSGI entry point for gunicorn: `gunicorn -c config/gunicorn.conf.py config.wsgi:application`."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.perf")
application = get_wsgi_application()
