"""Normalise SQL statements so the same query with different literals groups together.

String and numeric literals become `?`, `IN (?, ?, …)` lists collapse to `IN (...)`,
whitespace folds. The same rules exist as a Python function (readable, tested)
and as a DuckDB expression (fast over millions of spans); tests keep them equal.
"""

from __future__ import annotations

import re

# (pattern, replacement), applied in order: strings first so digits inside them vanish.
RULES: tuple[tuple[str, str], ...] = (
    (r"'(?:[^']|'')*'", "?"),  # 'text', with '' escapes
    (r"\$\d+", "?"),  # $1 placeholders
    (r"%s", "?"),  # DB-API placeholders left by drivers that do not interpolate
    (r"\b\d+(?:\.\d+)?\b", "?"),  # numbers (not digits inside identifiers such as t1)
    (r"(?i)\bIN\s*\(\s*\?(?:\s*,\s*\?)*\s*\)", "IN (...)"),
    (r"\s+", " "),
)

_COMPILED = tuple((re.compile(p), r) for p, r in RULES)


def normalise(statement: str) -> str:
    for pattern, replacement in _COMPILED:
        statement = pattern.sub(replacement, statement)
    return statement.strip()


def normalise_sql_expression(column: str) -> str:
    """A DuckDB expression computing `normalise(column)`."""
    expression = column
    for pattern, replacement in RULES:
        flags = "g"
        if pattern.startswith("(?i)"):
            pattern, flags = pattern[4:], "gi"
        escaped = pattern.replace("'", "''")
        expression = f"regexp_replace({expression}, '{escaped}', '{replacement}', '{flags}')"
    return f"trim({expression})"
