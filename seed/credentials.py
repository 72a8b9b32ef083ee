"""The password hasher the app uses, and `runs/credentials.json` (docs/architecture.md)."""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth.hashers import get_hasher

from lab.contract import CREDENTIALS_FILE_NAME, Credential, atomic_write, runs_dir_from
from seed.generate import PasswordEncoder

FILE_NAME = CREDENTIALS_FILE_NAME


def runs_dir(given: str | None) -> Path:
    return runs_dir_from(given)


def app_hasher() -> tuple[str, PasswordEncoder]:
    """(algorithm, encode) of the app's default hasher (Argon2 in every settings module).

    The salt is passed in, derived from the random seed, so hashes are reproducible; the cost
    parameters are the hasher's own, so a lab login costs what a real one does.
    """
    hasher = get_hasher("default")
    return hasher.algorithm, hasher.encode


def write_credentials(
    path: Path, *, scale: str, algorithm: str, random_seed: int, users: list[Credential]
) -> None:
    """Write atomically (lab.contract.atomic_write): a reader never sees half a file."""
    document = {
        "scale": scale,
        "password_hasher": algorithm,
        "random_seed": random_seed,
        "users": [
            {
                "tenant_id": user.tenant_id,
                "tenant_slug": user.tenant_slug,
                "email": user.email,
                "password": user.password,
                "role": user.role,
            }
            for user in users
        ],
    }
    # 0600: the file holds the seeded users' passwords.
    atomic_write(path, json.dumps(document, indent=2) + "\n", mode=0o600)
