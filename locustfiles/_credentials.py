"""The seed's `runs/credentials.json`, handed out so users spread across tenants."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

from lab.contract import Credential, credentials_file, runs_dir_from

__all__ = [
    "Credential",
    "CredentialPool",
    "CredentialsError",
    "CredentialsNotFound",
    "load_credentials",
    "parse_credentials",
]


class CredentialsError(RuntimeError):
    pass


class CredentialsNotFound(CredentialsError):
    """No credentials.json here: a worker on another host asks its master (_delivery.py)."""


def credentials_path() -> Path:
    return credentials_file(runs_dir_from())


def load_credentials(path: Path) -> list[Credential]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CredentialsNotFound(
            f"{path} not found: seed the database first (python -m seed)"
        ) from exc
    except OSError as exc:
        raise CredentialsError(f"{path} is not a seed credentials file: {exc}") from exc
    return parse_credentials(text, str(path))


def parse_credentials(text: str, source: str) -> list[Credential]:
    """The users of a credentials.json's text (`source` names it in errors)."""
    path = source
    try:
        document = json.loads(text)
        users = [
            Credential(
                tenant_id=int(item["tenant_id"]),
                tenant_slug=str(item.get("tenant_slug", "")),
                email=str(item["email"]),
                password=str(item["password"]),
                role=str(item.get("role", "")),
            )
            for item in document["users"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise CredentialsError(f"{path} is not a seed credentials file: {exc}") from exc
    if not users:
        raise CredentialsError(f"{path} lists no users: seed the database first (python -m seed)")
    return users


def interleave_by_tenant(users: list[Credential]) -> list[Credential]:
    """t1u1, t2u1, t3u1, t1u2, …: consecutive users belong to different tenants."""
    by_tenant: dict[int, list[Credential]] = {}
    for user in sorted(users, key=lambda u: (u.tenant_id, u.email)):
        by_tenant.setdefault(user.tenant_id, []).append(user)
    columns = itertools.zip_longest(*by_tenant.values())
    return [user for column in columns for user in column if user is not None]


class CredentialPool:
    """Cycles through credentials; a worker starts at its own offset."""

    def __init__(self, users: list[Credential], offset: int = 0) -> None:
        ordered = interleave_by_tenant(users)
        start = offset % len(ordered)
        self._ordered = ordered
        self._cycles: dict[tuple[str, ...], Iterator[Credential]] = {}
        self._offset = start

    def take(self, preferred_roles: tuple[str, ...] = ()) -> Credential:
        """The next credential, from the preferred roles when any user has one."""
        key = preferred_roles
        if key not in self._cycles:
            chosen = (
                [u for u in self._ordered if u.role in preferred_roles] if preferred_roles else []
            )
            pool = chosen or self._ordered
            start = self._offset % len(pool)
            self._cycles[key] = itertools.cycle(pool[start:] + pool[:start])
        return next(self._cycles[key])
