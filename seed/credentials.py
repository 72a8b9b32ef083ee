"""The password hasher the app uses, and `runs/credentials.json` (docs/architecture.md)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from django.contrib.auth.hashers import get_hasher

from seed.generate import Credential, PasswordEncoder

FILE_NAME = "credentials.json"


def runs_dir(given: str | None) -> Path:
    return Path(given or os.environ.get("LAB_RUNS_DIR") or "runs")


def accounts_secret() -> str:
    """The install's secret mixed into every lab account's password (.env); empty = none."""
    return os.environ.get("LAB_ACCOUNTS_SECRET", "").strip()


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
    """Write atomically: a temporary file in the same folder renamed into place."""
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
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".credentials-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=2)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
