"""The seed's `runs/credentials.json`, handed out so users spread across tenants.

Free of Locust, so tests run the ledger in-process; `_accounts` is the Locust side.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from lab.contract import Credential, credentials_file, runs_dir_from

__all__ = ["AccountLedger", "Credential", "CredentialsError", "load_credentials"]


class CredentialsError(RuntimeError):
    pass


def credentials_path() -> Path:
    return credentials_file(runs_dir_from())


def load_credentials(path: Path) -> list[Credential]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
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
    except FileNotFoundError as exc:
        raise CredentialsError(
            f"{path} not found: seed the database first (python -m seed)"
        ) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
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


class AccountLedger:
    """Which seeded account each running user holds: the one place accounts are handed out.

    Lives on the master (or the single process); workers ask it through `_accounts`. A user
    gets the account of its preferred roles (any account when none has them) that the fewest
    running users hold, the first such in tenant-interleaved order after the last one
    handed out, so users spread across shops and share an account only when every account
    of the pool is held.
    """

    def __init__(self, users: list[Credential]) -> None:
        self.ordered = interleave_by_tenant(users)
        self.held: dict[str, int] = {}  # email -> running users holding it
        self._next: dict[tuple[str, ...], int] = {}  # pool -> where the next search starts
        self.shared_handouts = 0  # accounts handed to a user while someone held them already

    def _pool(self, preferred_roles: tuple[str, ...]) -> list[Credential]:
        chosen = [u for u in self.ordered if u.role in preferred_roles] if preferred_roles else []
        return chosen or self.ordered

    def take(self, preferred_roles: tuple[str, ...] = ()) -> Credential:
        pool = self._pool(preferred_roles)
        start = self._next.get(preferred_roles, 0) % len(pool)
        rotated = pool[start:] + pool[:start]
        fewest = min(self.held.get(u.email, 0) for u in rotated)
        position, chosen = next(
            (i, u) for i, u in enumerate(rotated) if self.held.get(u.email, 0) == fewest
        )
        self._next[preferred_roles] = start + position + 1
        if fewest:
            self.shared_handouts += 1
        self.held[chosen.email] = fewest + 1
        return chosen

    def give_back(self, email: str) -> None:
        held = self.held.get(email, 0)
        if held > 1:
            self.held[email] = held - 1
        else:
            self.held.pop(email, None)

    @property
    def users_holding(self) -> int:
        return sum(self.held.values())
