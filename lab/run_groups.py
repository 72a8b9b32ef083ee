"""A side of a comparison on the command line: `ID`, `ID1,ID2,ID3`, or a glob of run ids.

`lab compare 'A1,A2,A3' 'B1,B2,B3'` compares three runs with three; an item with `*`, `?`
or `[` is matched against the run ids in the runs folder (`'20260101-*-load-*'`), quoted so
the shell leaves it alone. Each item may also be a run folder's path.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from lab.errors import LabError
from lab.runs_dir import list_run_dirs, resolve_run

GLOB_CHARACTERS = "*?["


def resolve_group(root: Path, text: str) -> list[Path]:
    """The run folders one argument names, in the order given (globs sorted by id)."""
    found: list[Path] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            raise LabError(f"empty run id in {text!r}: separate run ids with single commas")
        if any(c in item for c in GLOB_CHARACTERS):
            matches = [d for d in list_run_dirs(root) if fnmatch.fnmatchcase(d.name, item)]
            if not matches:
                raise LabError(f"no run in {root} matches {item!r} (list runs with `lab runs`)")
            found += matches
        else:
            found.append(resolve_run(root, item))
    names = [d.resolve() for d in found]
    if len(set(names)) != len(names):
        raise LabError(f"a run is named twice in {text!r}")
    return found
