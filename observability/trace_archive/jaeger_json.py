"""Span archive rows in Jaeger's query-API JSON, the shape Jaeger's UI and Grafana read.

The shape is Jaeger v2.8.0's own (the version `.env.example` pins):
`internal/uimodel/model.go` (Trace, Span, Reference, Process, KeyValue),
`internal/uimodel/converter/v1/json/from_domain.go` (processes keyed "p1", "p2", … in
order of appearance, int64 beyond 2^53 as a string) and the envelope `structuredResponse`
of `cmd/query/app/http_handler.go` ({"data", "total", "limit", "offset", "errors"}).
OpenTelemetry spans reach Jaeger's model through the collector's translator, which adds
`span.kind`, `otel.status_code` and `error=true` as tags; the same tags are added here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

JS_MAX_SAFE_INTEGER = (1 << 53) - 1
# Go's time.ParseDuration units, which Jaeger's minDuration / maxDuration accept.
_DURATION_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000}
_DURATION_UNITS_NS |= {"s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


class QueryError(ValueError):
    """A query parameter Jaeger itself would refuse (HTTP 400)."""


def parse_go_duration(text: str, name: str) -> int:
    """Nanoseconds from a Go duration string ("500ms", "1.5s", "1m30s")."""
    rest, total = text.strip(), 0.0
    if not rest:
        raise QueryError(f"unable to parse param '{name}': invalid duration {text!r}")
    while rest:
        match = _DURATION_PART.match(rest)
        if not match:
            raise QueryError(f"unable to parse param '{name}': invalid duration {text!r}")
        total += float(match.group(1)) * _DURATION_UNITS_NS[match.group(2)]
        rest = rest[match.end() :]
    return int(total)


def parse_tags(simple: Sequence[str], as_json: Sequence[str]) -> dict[str, str]:
    """`tag=key:value` (repeatable) and `tags={"key":"value"}` (Grafana sends the latter)."""
    tags: dict[str, str] = {}
    for tag in simple:
        key, sep, value = tag.partition(":")
        if not sep:
            raise QueryError(f"malformed 'tag' parameter, expecting key:value, received: {tag}")
        tags[key] = value
    for text in as_json:
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise QueryError(f"malformed 'tags' parameter, cannot unmarshal JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise QueryError("malformed 'tags' parameter, cannot unmarshal JSON: not an object")
        tags.update({str(k): str(v) for k, v in loaded.items()})
    return tags


def jaeger_trace_id(trace_id: str) -> str:
    """Jaeger prints a 128-bit id with a zero high half as its low 16 hex digits."""
    trace_id = trace_id.lower()
    return trace_id[16:] if len(trace_id) == 32 and trace_id[:16] == "0" * 16 else trace_id


def _key_value(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        safe = -JS_MAX_SAFE_INTEGER <= value <= JS_MAX_SAFE_INTEGER
        return {"key": key, "type": "int64", "value": value if safe else str(value)}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    # Arrays and maps: the collector's translator stores them as their JSON text.
    return {"key": key, "type": "string", "value": json.dumps(value, separators=(",", ":"))}


def span_tags(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    try:
        attributes = json.loads(row.get("attributes") or "{}")
    except ValueError:
        attributes = {}
    tags = (
        [_key_value(str(k), v) for k, v in attributes.items()]
        if isinstance(attributes, dict)
        else []
    )
    kind = str(row.get("kind") or "").lower()
    if kind and kind != "unspecified":
        tags.append(_key_value("span.kind", kind))
    status = row.get("status_code")
    if status in ("OK", "ERROR"):
        tags.append(_key_value("otel.status_code", status))
    if status == "ERROR":
        tags.append(_key_value("error", True))
    return tags


def _micros(ns: int) -> int:
    return int(ns) // 1000


def trace_json(trace_id: str, rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One trace (all its archived spans) as a Jaeger UI trace object."""
    rows = sorted(rows, key=lambda r: int(r["start_unix_ns"]))
    processes: dict[str, str] = {}  # service name -> process id
    spans = []
    tid = jaeger_trace_id(trace_id)
    for row in rows:
        service = str(row.get("service_name") or "unknown")
        process_id = processes.setdefault(service, f"p{len(processes) + 1}")
        parent = row.get("parent_span_id")
        spans.append(
            {
                "traceID": tid,
                "spanID": str(row["span_id"]).lower(),
                "flags": 1,
                "operationName": str(row.get("name") or ""),
                "references": (
                    [{"refType": "CHILD_OF", "traceID": tid, "spanID": str(parent).lower()}]
                    if parent
                    else []
                ),
                "startTime": _micros(row["start_unix_ns"]),
                "duration": max(0, _micros(row["end_unix_ns"]) - _micros(row["start_unix_ns"])),
                "tags": span_tags(row),
                "logs": [],
                "processID": process_id,
                "warnings": None,
            }
        )
    return {
        "traceID": tid,
        "spans": spans,
        "processes": {pid: {"serviceName": name, "tags": []} for name, pid in processes.items()},
        "warnings": None,
    }


def envelope(
    data: Any, *, total: int = 0, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Jaeger's structuredResponse."""
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}


def error_envelope(code: int, message: str) -> dict[str, Any]:
    return envelope(None, errors=[{"code": code, "msg": message}])
