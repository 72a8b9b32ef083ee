"""The repository's layout tells the truth: the import directions docs/architecture.md draws
("Packages and the direction of imports") hold, and the Makefile's RUN_MODE default is
`lab run`'s own. Each check is a function that lists violations, run on the repository (none)
and on a planted violation (found).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from lab.__main__ import build_parser
from lab.runner import RunOptions
from tests.harness.environment import REPO_ROOT

# Top-level import name -> the package of the map it belongs to.
PACKAGE_OF = {
    "jewelry": "app",
    "config": "app",
    "lab": "lab",
    "locustfiles": "locustfiles",
    "seed": "seed",
    "observability": "observability",
    "tests": "tests",
    "bench": "bench",
}
# Where each package's code lives (tests/ and bench/ may import anything).
SOURCES = {
    "app": ("app/jewelry", "app/config"),
    "lab": ("lab",),
    "locustfiles": ("locustfiles",),
    "seed": ("seed",),
    "observability": ("observability",),
}
# lab's modules that other packages may use: the shared facts and formats.
LAB_SHARED = frozenset(
    {
        "lab.contract",
        "lab.schemas",
        "lab.errors",
        "lab.targets",
        "lab.target_safety",
        "lab.run_token",
        "lab.trace_sampling",
        "lab.arrival_plan",  # the open model's schedule: generator and analyses read one plan
    }
)
# Which packages each may import, and which lab modules ("lab" allowed means LAB_SHARED only,
# unless listed here as a known exception).
ALLOWED = {
    "app": {"lab"},  # lab.run_token: the app verifies the run tokens Locust sends
    "lab": set(),
    "locustfiles": {"lab"},
    "seed": {"lab", "app"},  # the seed writes through the app's models
    "observability": {"lab"},
}
# Known exceptions, to go with issue 15 item 3 (the load generator's own package): the Locust
# plugin writes meta.json and a run's status with the lab's own helpers.
# The master also judges the open model's rate steps with lab.arrival_steps at the end.
LAB_EXCEPTIONS = {"locustfiles": frozenset({"lab.meta", "lab.health", "lab.arrival_steps"})}
# The app needs one thing of the lab: the run token it verifies.
LAB_FOR_APP = frozenset({"lab.run_token"})


def imported_modules(source: str) -> Iterator[str]:
    """Absolute module names a source imports, `from lab import x` as `lab.x`, lazy ones too."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "lab":
                yield from (f"lab.{alias.name}" for alias in node.names)
            else:
                yield node.module


def import_violations(package: str, files: dict[str, str]) -> list[str]:
    """`file: imports module` for every import of `files` (path -> source) the map forbids."""
    found = []
    for path, source in sorted(files.items()):
        for module in imported_modules(source):
            target = PACKAGE_OF.get(module.split(".")[0])
            if target is None or target == package:
                continue
            if target not in ALLOWED[package]:
                found.append(f"{path}: imports {module} ({package} -> {target})")
            elif target == "lab":
                owned = ".".join(module.split(".")[:2])
                usable = LAB_FOR_APP if package == "app" else LAB_SHARED
                if owned not in usable | LAB_EXCEPTIONS.get(package, frozenset()):
                    found.append(f"{path}: imports {module} (not a lab module {package} may use)")
    return found


def _sources(package: str) -> dict[str, str]:
    return {
        str(path.relative_to(REPO_ROOT)): path.read_text(encoding="utf-8")
        for folder in SOURCES[package]
        for path in (REPO_ROOT / folder).rglob("*.py")
    }


def test_imports_follow_the_map() -> None:
    checked = 0
    for package in SOURCES:
        files = _sources(package)
        checked += len(files)
        assert import_violations(package, files) == [], package
    assert checked > 150  # the walk saw the code, not an empty folder


def test_a_wrong_direction_is_found() -> None:
    planted = {
        "app/jewelry/x.py": "from lab.report import build\nfrom lab.contract import RunFolder\n",
        "lab/x.py": "def f():\n    from locustfiles._record import Recorder\n",
        "locustfiles/x.py": "from lab import report\nfrom lab.contract import RunFolder\n",
        "observability/x.py": "import jewelry.core\n",
    }
    found = [
        v
        for package in ("app", "lab", "locustfiles", "observability")
        for v in import_violations(
            package, {p: s for p, s in planted.items() if p.startswith(SOURCES[package][0])}
        )
    ]
    assert found == [
        "app/jewelry/x.py: imports lab.report (not a lab module app may use)",
        "app/jewelry/x.py: imports lab.contract (not a lab module app may use)",
        "lab/x.py: imports locustfiles._record (lab -> locustfiles)",
        "locustfiles/x.py: imports lab.report (not a lab module locustfiles may use)",
        "observability/x.py: imports jewelry.core (observability -> app)",
    ]


def run_mode_disagreement(makefile: str) -> str | None:
    """None when the Makefile's RUN_MODE default is `lab run`'s default mode."""
    match = re.search(r"^RUN_MODE \?= *(\S+)", makefile, re.M)
    if match is None:
        return "the Makefile sets no RUN_MODE default"
    args = build_parser().parse_args(["run", "--profile", "smoke"])
    lab_default = RunOptions.from_args(args, Path("runs")).mode
    if match.group(1) != lab_default:
        return f"RUN_MODE ?= {match.group(1)}, `lab run` defaults to {lab_default}"
    return None


def test_run_mode_default_is_lab_runs() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert run_mode_disagreement(makefile) is None
    other = "local" if "RUN_MODE ?= compose" in makefile else "compose"
    planted = re.sub(r"^RUN_MODE \?= *\S+", f"RUN_MODE ?= {other}", makefile, flags=re.M)
    assert run_mode_disagreement(planted) is not None
