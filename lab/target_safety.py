"""Nobody load-tests production by accident: which targets `lab run` may hit.

A target is allowed when its host is, exactly, `localhost`, a loopback IP literal or a
service name of the Compose lab; any other host must be named with `--allow-target`.
Names are compared whole, never by prefix, suffix or substring, so look-alikes such as
`localhost.example.com`, `app.evil` or `127.0.0.1.nip.io` (which public DNS resolves
wherever its owner likes) are refused. A URL carrying user info (`http://a@b/`) or a
backslash is refused outright: HTTP clients disagree on which host such a URL names.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from lab.errors import LabError

# Service names of the Compose lab (docker-compose.perf.yml): reachable only inside it.
LAB_SERVICE_NAMES = frozenset(
    {
        "app", "postgres", "pgbouncer", "redis", "seed", "locust-master", "locust-worker",
        "jaeger", "prometheus", "postgres-exporter", "pgbouncer-exporter", "redis-exporter",
        "trace-archive", "grafana",
        "jewelry-app",  # the app's alias for browser users (Chromium forces https on `app`)
    }
)  # fmt: skip


def target_host(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise LabError(f"target {url!r} is not an http(s) URL such as http://127.0.0.1:8000")
    if "@" in parts.netloc or "\\" in url:
        raise LabError(
            f"target {url!r} carries user info or a backslash: give the host alone, "
            "such as http://127.0.0.1:8000"
        )
    return parts.hostname.lower()


def is_lab_host(host: str) -> bool:
    """`localhost`, loopback IP literals, and the lab's own Compose service names."""
    if host == "localhost" or host in LAB_SERVICE_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_target(url: str, allowed: Iterable[str] = ()) -> str:
    """The target's host when it may be load-tested, else LabError (exit 2)."""
    host = target_host(url)
    if is_lab_host(host) or host in {a.lower() for a in allowed}:
        return host
    raise LabError(
        f"target host {host!r} is not loopback or a lab service: "
        f"pass --allow-target {host} if you really mean to load-test it"
    )
