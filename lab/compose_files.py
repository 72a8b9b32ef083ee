"""The Compose files of the lab for an image set (`LAB_IMAGES`): the one place that knows them.

`lab run --compose` builds its `docker compose` command from `compose_file_args()`, and
`scripts/lab-stack.sh` asks `python3 -m lab.compose_files [SET]` (one argument per line), so
the default set and the offline override can never drift apart between the two. The set is
$LAB_IMAGES when given, else the one `make lab-up` chose and recorded in `.env`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lab.env_files import REPO_ROOT, setting
from lab.errors import LabError

BASE_FILE = "docker-compose.perf.yml"
# Image set -> files added after the base file, in order.
OVERRIDES: dict[str, tuple[str, ...]] = {
    "default": (),
    "offline": ("docker-compose.offline.yml",),
}


def image_set(name: str | None = None) -> str:
    """The image set asked for: `name`, else $LAB_IMAGES, else .env's record, else `default`."""
    chosen = name or setting("LAB_IMAGES") or "default"
    if chosen not in OVERRIDES:
        raise LabError(
            f"LAB_IMAGES={chosen}: use LAB_IMAGES=default (registry images) or LAB_IMAGES=offline"
        )
    return chosen


# Published only when asked (`LAB_PUBLISH_MASTER=1`): the master's worker port and the trace
# archive's OTLP port, for workers on other hosts (docs/architecture.md, "Results travel
# with the run"). Neither port has any authentication.
PUBLISH_MASTER_FILE = "docker-compose.publish-master.yml"
_YES = ("1", "true", "yes", "on")


def publish_master() -> bool:
    return setting("LAB_PUBLISH_MASTER").strip().lower() in _YES


def compose_files(name: str | None = None) -> tuple[str, ...]:
    """File names (relative to the repository root) of an image set, base file first."""
    extra = (PUBLISH_MASTER_FILE,) if publish_master() else ()
    return (BASE_FILE, *OVERRIDES[image_set(name)], *extra)


def compose_file_args(name: str | None = None, root: Path = REPO_ROOT) -> list[str]:
    """`-f FILE` arguments of `docker compose` for an image set, as absolute paths."""
    args: list[str] = []
    for file_name in compose_files(name):
        args += ["-f", str(root / file_name)]
    return args


def main(argv: list[str]) -> int:
    try:
        for arg in compose_file_args(argv[0] if argv else None):
            print(arg)
    except LabError as exc:
        print(f"lab: {exc.message}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
