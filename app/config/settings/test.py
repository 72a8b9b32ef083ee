"""Settings for pytest: real PostgreSQL through PgBouncer and real Redis, from the harness."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import DATABASES, PASSWORD_HASHERS

DATABASES["default"]["TEST"] = {"NAME": "test_jewelry"}
# Tests keep Argon2 first (login cost is part of what is tested) but may create users faster.
PASSWORD_HASHERS = [*PASSWORD_HASHERS, "django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_THROTTLE_LIMIT = 5
