"""Settings for the lab under load: refuses the development key and DEBUG."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DEBUG, DEV_SECRET_KEY, SECRET_KEY

if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 32:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a random value of 32+ characters for perf "
        "(make lab-up generates one in .env)"
    )
if DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off for perf: debug mode skews every figure")

SESSION_COOKIE_SECURE = False  # the lab speaks plain HTTP on loopback and the compose network
