"""Named data volumes, and per-table overrides of them. Counts are totals over all tenants."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


class ScaleError(ValueError):
    """A scale or count the seed cannot produce; the message says what to change."""


@dataclass(frozen=True)
class Scale:
    name: str
    tenants: int
    users_per_tenant: int
    branches_per_tenant: int
    terminals_per_branch: int
    items: int
    customers: int
    sales: int

    def validate(self) -> Scale:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, int) and value < 0:
                raise ScaleError(f"--{field.name.replace('_', '-')} must be >= 0, got {value}")
        for name in ("tenants", "users_per_tenant", "branches_per_tenant", "terminals_per_branch"):
            if getattr(self, name) < 1:
                raise ScaleError(f"--{name.replace('_', '-')} must be at least 1")
        if self.sales and self.items < self.tenants:
            raise ScaleError(
                f"every tenant needs items to sell: --items ({self.items}) must be at least "
                f"--tenants ({self.tenants}) when --sales is > 0"
            )
        return self


# `doc` is exactly the data set of the report the lab grew from (README "Where the requirements
# come from"); `small` is for tests and smoke runs;
# `large` is a busy SaaS (20 shops, a million pieces in stock, a million sales).
SCALES = {
    "doc": Scale("doc", 1, 1, 1, 1, items=500, customers=200, sales=100),
    "small": Scale("small", 3, 5, 2, 2, items=3_000, customers=1_200, sales=3_000),
    # 3 users per tenant: Argon2 hashing costs ~0.3 s each on this machine.
    "large": Scale("large", 20, 3, 3, 2, items=1_000_000, customers=200_000, sales=1_000_000),
}
OVERRIDABLE = tuple(f.name for f in dataclasses.fields(Scale) if f.name != "name")


def resolve(name: str, overrides: dict[str, int | None]) -> Scale:
    try:
        base = SCALES[name]
    except KeyError:
        raise ScaleError(f"unknown scale {name!r}: choose one of {', '.join(SCALES)}") from None
    given = {key: value for key, value in overrides.items() if value is not None}
    return dataclasses.replace(base, **given).validate()


def split(total: int, weights: list[float]) -> list[int]:
    """Divide `total` over `weights` exactly (largest remainder), in order."""
    weight_sum = sum(weights)
    raw = [total * w / weight_sum for w in weights]
    parts = [int(r) for r in raw]
    short = total - sum(parts)
    by_remainder = sorted(range(len(raw)), key=lambda i: (parts[i] - raw[i], i))
    for index in by_remainder[:short]:
        parts[index] += 1
    return parts
