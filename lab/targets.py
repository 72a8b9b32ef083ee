"""The targets a run is judged against: `lab/targets.toml`, overridable per run."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from lab.contract import RunFolder
from lab.errors import LabError

DEFAULT_TARGETS_FILE = Path(__file__).with_name("targets.toml")
RUN_TARGETS_NAME = "targets.toml"
BUDGETS_SECTION = "statement_budgets"
DEFAULT_BUDGET_KEY = "default"


@dataclass(frozen=True)
class Targets:
    page_p95_ms: float = 2000.0
    api_p95_ms: float = 500.0
    db_query_p95_ms: float = 100.0
    failure_ratio: float = 0.01
    api_prefix: str = "/api/"
    n_plus_one_min_repeats: int = 5
    n_plus_one_min_total_ms: float = 0.0
    soak_warmup_s: float = 240.0
    soak_min_steady_s: float = 300.0
    leak_min_relative_per_hour: float = 0.25
    leak_min_bytes_per_hour: float = 1048576.0
    leak_horizon_h: float = 24.0
    latency_drift_max_ratio: float = 1.2
    error_drift_max_points: float = 0.01
    pgbouncer_wait_drift_max_s: float = 0.05
    # [abort]: `lab run --abort-on-breach` (locustfiles/_breach_window.py).
    abort_on_breach: bool = False
    abort_window_s: float = 60.0
    abort_every_s: float = 10.0
    abort_consecutive: int = 2
    abort_warmup_s: float = 60.0
    abort_min_requests: int = 20
    # [generator]: a load generator process above this CPU for this long is saturated.
    generator_cpu_max_pct: float = 80.0
    generator_cpu_sustained_s: float = 20.0
    # (route, max p95 statements per traced request); route "default" applies to the rest.
    statement_budgets: tuple[tuple[str, int], ...] = ()

    def statement_budget(self, route: str) -> int | None:
        """The statements-per-request budget of a server route, or the default, or None."""
        budgets = dict(self.statement_budgets)
        return budgets.get(route, budgets.get(DEFAULT_BUDGET_KEY))

    def p95_target_ms(self, name: str) -> float:
        """API names have the API target; everything else is a page."""
        return self.api_p95_ms if name.startswith(self.api_prefix) else self.page_p95_ms

    def kind_of(self, name: str) -> str:
        return "api" if name.startswith(self.api_prefix) else "page"


_SECTION_PREFIX = {
    "targets": "",
    "n_plus_one": "n_plus_one_",
    "soak": "",
    "abort": "abort_",
    "generator": "generator_",
}


def _budget(route: str, value: Any, source: object) -> tuple[str, int]:
    try:
        budget = int(value)
    except (TypeError, ValueError) as exc:
        raise LabError(f"{source}: statement budget of {route!r} is not a whole number") from exc
    if budget < 0 or (route != DEFAULT_BUDGET_KEY and not route.startswith("/")):
        raise LabError(
            f"{source}: statement budget {route!r} = {value!r}: expected a route starting "
            f"with / (or {DEFAULT_BUDGET_KEY!r}) and a count >= 0"
        )
    return route, budget


def _with_budgets(targets: Targets, budgets: dict[str, int]) -> Targets:
    merged = dict(targets.statement_budgets) | budgets
    return replace(targets, statement_budgets=tuple(sorted(merged.items())))


def _flatten(document: dict[str, Any], source: Path) -> dict[str, Any]:
    known = {f.name for f in fields(Targets)} - {BUDGETS_SECTION}
    flat: dict[str, Any] = {}
    for section, values in document.items():
        if section == BUDGETS_SECTION and isinstance(values, dict):
            flat[BUDGETS_SECTION] = dict(_budget(k, v, source) for k, v in values.items())
            continue
        prefix = _SECTION_PREFIX.get(section)
        if prefix is None or not isinstance(values, dict):
            raise LabError(
                f"{source}: unknown section [{section}] "
                f"(expected {', '.join(_SECTION_PREFIX)}, {BUDGETS_SECTION})"
            )
        for key, value in values.items():
            name = prefix + key
            if name not in known:
                raise LabError(f"{source}: unknown key {key!r} in [{section}]")
            flat[name] = value
    return flat


_TRUE, _FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off"})


def _coerce(name: str, value: Any) -> Any:
    default = getattr(Targets(), name)
    if isinstance(default, bool):  # bool("false") is True: read the words
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        raise LabError(f"target {name}={value!r} is not true or false")
    try:
        return type(default)(value)
    except (TypeError, ValueError) as exc:
        raise LabError(f"target {name}={value!r} is not a {type(default).__name__}") from exc


def load_targets(
    run_dir: Path | None = None, file: Path | None = None, overrides: list[str] | None = None
) -> Targets:
    """Defaults, then the run's own targets.toml, then `file`, then `KEY=VALUE` overrides."""
    targets = Targets()
    sources = [DEFAULT_TARGETS_FILE]
    if run_dir is not None and RunFolder(run_dir).targets.is_file():
        sources.append(RunFolder(run_dir).targets)
    if file is not None:
        sources.append(file)
    for source in sources:
        try:
            document = tomllib.loads(source.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise LabError(f"cannot read targets file {source}: {exc}") from exc
        flat = _flatten(document, source)
        targets = _with_budgets(targets, flat.pop(BUDGETS_SECTION, {}))
        targets = replace(targets, **{k: _coerce(k, v) for k, v in flat.items()})
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if sep and key.startswith(BUDGETS_SECTION + "."):
            route = key[len(BUDGETS_SECTION) + 1 :]
            targets = _with_budgets(targets, dict([_budget(route, value, f"--set {item!r}")]))
            continue
        if not sep or key not in {f.name for f in fields(Targets)} - {BUDGETS_SECTION}:
            raise LabError(f"--set {item!r}: expected KEY=VALUE with KEY one of the targets")
        targets = replace(targets, **{key: _coerce(key, value)})
    _check_ranges(targets)
    return targets


def _check_ranges(targets: Targets) -> None:
    """Settings that would make the abort or the generator check meaningless."""
    problems = [
        f"{name} must be {rule}"
        for name, ok, rule in (
            ("abort_window_s", targets.abort_window_s > 0, "> 0"),
            (
                "abort_every_s",
                0 < targets.abort_every_s <= targets.abort_window_s,
                "in (0, window]",
            ),
            ("abort_consecutive", targets.abort_consecutive >= 1, ">= 1"),
            ("abort_warmup_s", targets.abort_warmup_s >= 0, ">= 0"),
            ("abort_min_requests", targets.abort_min_requests >= 1, ">= 1"),
            ("generator_cpu_max_pct", 0 < targets.generator_cpu_max_pct <= 100, "in (0, 100]"),
            ("generator_cpu_sustained_s", targets.generator_cpu_sustained_s >= 0, ">= 0"),
        )
        if not ok
    ]
    if problems:
        raise LabError("targets: " + "; ".join(problems))


def _section_of(name: str) -> str | None:
    """The section a prefixed key belongs to ([n_plus_one], [abort], [generator]), or None."""
    return next(
        (
            section
            for section, prefix in _SECTION_PREFIX.items()
            if prefix and name.startswith(prefix)
        ),
        None,
    )


def to_toml(targets: Targets) -> str:
    """The resolved targets as a TOML file (`lab run` writes it into the run folder)."""
    sections: dict[str, list[str]] = {name: [] for name in _SECTION_PREFIX}
    for f in fields(Targets):
        if f.name == BUDGETS_SECTION:
            continue
        value = getattr(targets, f.name)
        if isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = f'"{value}"' if isinstance(value, str) else repr(value)
        section = _section_of(f.name)
        if section is not None:
            sections[section].append(f"{f.name.removeprefix(_SECTION_PREFIX[section])} = {text}")
        elif f.name in _TARGETS_SECTION_KEYS:
            sections["targets"].append(f"{f.name} = {text}")
        else:
            sections["soak"].append(f"{f.name} = {text}")
    sections[BUDGETS_SECTION] = [f'"{route}" = {n}' for route, n in targets.statement_budgets]
    body = "\n\n".join(f"[{name}]\n" + "\n".join(lines) for name, lines in sections.items())
    return "# Targets this run was judged against (written by lab run).\n\n" + body + "\n"


_TARGETS_SECTION_KEYS = frozenset(
    {"page_p95_ms", "api_p95_ms", "db_query_p95_ms", "failure_ratio", "api_prefix"}
)
