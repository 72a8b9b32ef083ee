"""Settings shared by every environment; everything configurable is read here, from env."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise RuntimeError(f"{name} is not set: export it or put it in .env")
    return value


def env_bool(name: str, default: bool) -> bool:
    return env(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in env(name, default).split(",") if part.strip()]


# A development-only key: config.settings.perf refuses to start with it.
DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-under-load"  # noqa: S105
SECRET_KEY = env("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],app,testserver")

# Deliberate, realistic defects for the lab to find (docs/architecture.md, "Faults").
LAB_FAULTS = frozenset(env_list("LAB_FAULTS"))
# LAB_FAULTS=stall: every LAB_STALL_EVERY_S seconds of the wall clock, the app answers nothing
# for LAB_STALL_S seconds (jewelry/core/stall.py), like a stop-the-world pause.
LAB_STALL_EVERY_S = float(env("LAB_STALL_EVERY_S", "20"))
LAB_STALL_S = float(env("LAB_STALL_S", "1.5"))

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "jewelry.core",
    "jewelry.tenants",
    "jewelry.inventory",
    "jewelry.customers",
    "jewelry.sales",
    "jewelry.reports",
    "jewelry.dashboard",
    "jewelry.api",
]

MIDDLEWARE = [
    # Outermost, so its timing and query count cover sessions, auth and every view.
    "jewelry.observability.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files before everything that needs a session or a tenant: assets are public,
    # served from memory-mapped files with their precompressed variants (jewelry.core.assets).
    "jewelry.core.assets.LabWhiteNoiseMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "jewelry.core.tenancy.TenantMiddleware",
    # Inert unless LAB_FAULTS contains `leak` (the planted memory leak soak verdicts must find).
    "jewelry.core.response_memo.ResponseMemoMiddleware",
    # Inert unless LAB_FAULTS contains `stall` (the pause the open model's corrected latency
    # must show, and a closed loop under-samples).
    "jewelry.core.stall.StallMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "tenants.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/dashboard/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL behind PgBouncer in transaction pooling mode (docs/architecture.md, "Decisions"):
# no server-side cursors, no session state; a kept Django connection is a cheap PgBouncer client.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": env("DATABASE_HOST", "127.0.0.1"),
        "PORT": env("DATABASE_PORT", "6432"),
        "NAME": env("DATABASE_NAME", "jewelry"),
        "USER": env("DATABASE_USER", "jewelry"),
        "PASSWORD": env("DATABASE_PASSWORD", ""),
        "CONN_MAX_AGE": int(env("DATABASE_CONN_MAX_AGE", "60")),
        "CONN_HEALTH_CHECKS": True,
        "DISABLE_SERVER_SIDE_CURSORS": True,
        "OPTIONS": {"connect_timeout": 5, "application_name": "jewelry-app"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
# Redis is optional at run time (docs/architecture.md, "Faults: the app under infrastructure
# faults"): the backend answers "not cached" when Redis is down, and these timeouts bound what
# one request can lose to an unreachable Redis (a healthy one answers in well under 1 ms).
REDIS_TIMEOUT_SECONDS = float(env("REDIS_TIMEOUT_SECONDS", "1.0"))
CACHES = {
    "default": {
        "BACKEND": "jewelry.core.cache_backend.DegradingRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "jewelry",
        "TIMEOUT": 300,
        "OPTIONS": {
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
        },
    }
}
# Sessions are read from Redis and written through to PostgreSQL: a Redis outage (or restart,
# it keeps nothing on disk) signs nobody out.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False

DASHBOARD_CACHE_SECONDS = int(env("DASHBOARD_CACHE_SECONDS", "30"))
REPORT_CACHE_SECONDS = int(env("REPORT_CACHE_SECONDS", "60"))
# Login throttling (per account and per client IP), counted in Redis.
LOGIN_THROTTLE_LIMIT = int(env("LOGIN_THROTTLE_LIMIT", "5"))
LOGIN_THROTTLE_WINDOW_SECONDS = int(env("LOGIN_THROTTLE_WINDOW_SECONDS", "300"))
LOYALTY_POINTS_PER_CURRENCY_UNIT = "0.1"  # one point per 10 units spent

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["jewelry.api.authentication.TenantJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "jewelry.api.pagination.BoundedPageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "jewelry.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=int(env("JWT_ACCESS_MINUTES", "5"))),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=12),
    "UPDATE_LAST_LOGIN": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Jewelry shop API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "/static/"
# Filled by `manage.py collectstatic` (the image build, the test harness, scripts/dev-app.sh).
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# Hashed names (app.3f2a9c.css), a gzip and a brotli copy of each compressible file, and
# WhiteNoise's far-future `immutable` cache headers on the hashed names (issue 16).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"trace_context": {"()": "jewelry.observability.log_context.TraceContextFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s "
            "trace_id=%(trace_id)s span_id=%(span_id)s %(message)s"
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["trace_context"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}
