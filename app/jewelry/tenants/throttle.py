"""Login throttling per account and per client IP, counted in Redis through Django's cache.

Each failed login increments two counters (the account's and the client IP's) that expire
`LOGIN_THROTTLE_WINDOW_SECONDS` after the first failure of the window. Once either counter
reaches `LOGIN_THROTTLE_LIMIT`, further attempts are refused before the password is checked,
so a blocked attempt costs one Redis round trip instead of an Argon2 hash. The HTML login
(`jewelry.tenants.views.LoginView`) and the API's token endpoint
(`jewelry.api.tokens.EmailTokenObtainPairView`) share these counters.

When Redis is down the throttle fails OPEN (the cache backend reads the counters as zero and
drops the writes, `jewelry.core.cache_backend`): failing closed would turn a cache outage into
a sign-in outage for every user, while an attacker gains only the outage's minutes, each
guess still paying a full Argon2 hash, and every bypassed count shows in
`jewelry_dependency_errors_total{dependency="redis"}`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

_PREFIX = "login-throttle"


@dataclass(frozen=True)
class Block:
    """Why an attempt is refused, and how long the client should wait at most."""

    scope: str  # "account" or "ip"
    retry_after_seconds: int

    @property
    def message(self) -> str:
        minutes = max(1, round(self.retry_after_seconds / 60))
        subject = "this account" if self.scope == "account" else "your network address"
        return (
            f"Too many failed sign-in attempts for {subject}. "
            f"Try again in about {minutes} minute{'s' if minutes != 1 else ''}."
        )


def client_ip(request: HttpRequest) -> str:
    # REMOTE_ADDR only: the app is reached directly (gunicorn), and a client-supplied
    # X-Forwarded-For would let anyone pick a fresh "IP" per attempt.
    return request.META.get("REMOTE_ADDR") or "unknown"


def _account_key(username: str) -> str:
    # Hashed so an arbitrary (over-long, odd-character) username makes a valid, bounded key.
    digest = hashlib.sha256(username.strip().lower().encode("utf-8")).hexdigest()
    return f"{_PREFIX}:account:{digest}"


def _ip_key(ip: str) -> str:
    return f"{_PREFIX}:ip:{hashlib.sha256(ip.encode('utf-8')).hexdigest()}"


def blocked(*, username: str, ip: str) -> Block | None:
    """The reason this attempt is refused, or None when it may go on to the password check."""
    limit = settings.LOGIN_THROTTLE_LIMIT
    window = settings.LOGIN_THROTTLE_WINDOW_SECONDS
    account_key, ip_key = _account_key(username), _ip_key(ip)
    counts = cache.get_many([account_key, ip_key])
    if username and counts.get(account_key, 0) >= limit:
        return Block("account", window)
    if counts.get(ip_key, 0) >= limit:
        return Block("ip", window)
    return None


def _increment(key: str) -> None:
    window = settings.LOGIN_THROTTLE_WINDOW_SECONDS
    # add() starts the window only if it is not running; incr() keeps the key's expiry.
    cache.add(key, 0, window)
    try:
        cache.incr(key)
    except ValueError:  # the window expired between add() and incr(): start a new one
        cache.add(key, 1, window)


def record_failure(*, username: str, ip: str) -> None:
    if username:
        _increment(_account_key(username))
    _increment(_ip_key(ip))


def clear_account(*, username: str) -> None:
    """A successful sign-in forgives the account's failures (not the IP's)."""
    cache.delete(_account_key(username))
