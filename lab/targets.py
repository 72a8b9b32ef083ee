"""The targets a run is judged against: `lab/targets.toml`, overridable per run."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from lab.contract import RunFolder
from lab.errors import LabError

DEFAULT_TARGETS_FILE = Path(__file__).with_name("targets.toml")


@dataclass(frozen=True)
class Targets:
    page_p95_ms: float = 2000.0
    api_p95_ms: float = 500.0
    db_query_p95_ms: float = 100.0
    failure_ratio: float = 0.01
    api_prefix: str = "/api/"
    n_plus_one_min_repeats: int = 5
    n_plus_one_min_total_ms: float = 50.0
    leak_min_relative_per_hour: float = 0.02
    leak_min_bytes_per_hour: float = 1048576.0
    latency_drift_max_ratio: float = 1.2
    error_drift_max_points: float = 0.01
    pgbouncer_wait_drift_max_s: float = 0.05

    def p95_target_ms(self, name: str) -> float:
        """API names have the API target; everything else is a page."""
        return self.api_p95_ms if name.startswith(self.api_prefix) else self.page_p95_ms

    def kind_of(self, name: str) -> str:
        return "api" if name.startswith(self.api_prefix) else "page"


_SECTION_PREFIX = {"targets": "", "n_plus_one": "n_plus_one_", "soak": ""}


def _flatten(document: dict[str, Any], source: Path) -> dict[str, Any]:
    known = {f.name for f in fields(Targets)}
    flat: dict[str, Any] = {}
    for section, values in document.items():
        prefix = _SECTION_PREFIX.get(section)
        if prefix is None or not isinstance(values, dict):
            raise LabError(
                f"{source}: unknown section [{section}] (expected targets, n_plus_one, soak)"
            )
        for key, value in values.items():
            name = prefix + key
            if name not in known:
                raise LabError(f"{source}: unknown key {key!r} in [{section}]")
            flat[name] = value
    return flat


def _coerce(name: str, value: Any) -> Any:
    default = getattr(Targets(), name)
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
        targets = replace(targets, **{k: _coerce(k, v) for k, v in flat.items()})
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or key not in {f.name for f in fields(Targets)}:
            raise LabError(f"--set {item!r}: expected KEY=VALUE with KEY one of the targets")
        targets = replace(targets, **{key: _coerce(key, value)})
    return targets
