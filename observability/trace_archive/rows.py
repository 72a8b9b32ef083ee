"""ExportTraceServiceRequest to columns of the span archive schema, grouped by run folder."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from observability.trace_archive.schema import COLUMNS, QUARANTINE_RUN, UNASSIGNED_RUN

# SPAN_KIND_UNSPECIFIED is read as INTERNAL, as the OTLP trace proto allows receivers to.
KIND_NAMES = {0: "INTERNAL", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
STATUS_NAMES = {0: "UNSET", 1: "OK", 2: "ERROR"}

RUN_ID_ATTRIBUTE = "lab.run_id"
# A run id becomes a folder name: anything that could escape runs/ goes to _unassigned.
_SAFE_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

Columns = dict[str, list[Any]]


def empty_columns() -> Columns:
    return {name: [] for name in COLUMNS}


def folder_for_run(run_id: str | None) -> str:
    if run_id and _SAFE_RUN_ID.fullmatch(run_id):
        return run_id
    return UNASSIGNED_RUN


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: any_value(item.value) for item in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes_dict(attributes: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    item: KeyValue
    for item in attributes:
        result[item.key] = any_value(item.value)
    return result


def _http_status(attrs: dict[str, Any]) -> int | None:
    value = attrs.get("http.response.status_code", attrs.get("http.status_code"))
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(2**31) <= value < 2**31 else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class RunBuffers:
    """Rows not yet written, one set of columns per run folder."""

    def __init__(self) -> None:
        self._by_folder: dict[str, Columns] = {}

    def add_request(
        self, request: ExportTraceServiceRequest, redirect: Collection[str] = ()
    ) -> dict[str, int]:
        """Buffer every span of `request`; rows of a run in `redirect` go to the quarantine.

        Returns the rows added per folder.
        """
        by_folder = self._by_folder
        added: dict[str, int] = {}
        dumps = json.dumps
        for resource_spans in request.resource_spans:
            resource_attrs = attributes_dict(resource_spans.resource.attributes)
            service_name = _text(resource_attrs.get("service.name")) or "unknown_service"
            resource_run_id = _text(resource_attrs.get(RUN_ID_ATTRIBUTE))
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attrs = attributes_dict(span.attributes)
                    run_id = _text(attrs.get(RUN_ID_ATTRIBUTE)) or resource_run_id
                    folder = folder_for_run(run_id)
                    if folder in redirect:
                        folder = QUARANTINE_RUN
                    added[folder] = added.get(folder, 0) + 1
                    columns = by_folder.get(folder)
                    if columns is None:
                        columns = by_folder[folder] = empty_columns()
                    parent = span.parent_span_id
                    columns["trace_id"].append(span.trace_id.hex())
                    columns["span_id"].append(span.span_id.hex())
                    columns["parent_span_id"].append(parent.hex() if parent else None)
                    columns["name"].append(span.name)
                    columns["service_name"].append(service_name)
                    columns["kind"].append(KIND_NAMES.get(span.kind, "INTERNAL"))
                    columns["start_unix_ns"].append(span.start_time_unix_nano)
                    columns["end_unix_ns"].append(span.end_time_unix_nano)
                    columns["status_code"].append(STATUS_NAMES.get(span.status.code, "UNSET"))
                    columns["run_id"].append(run_id)
                    columns["http_route"].append(_text(attrs.get("http.route")))
                    columns["http_status"].append(_http_status(attrs))
                    columns["db_system"].append(_text(attrs.get("db.system")))
                    columns["db_statement"].append(
                        _text(attrs.get("db.statement", attrs.get("db.query.text")))
                    )
                    columns["attributes"].append(
                        dumps(attrs, ensure_ascii=False, separators=(",", ":"), default=str)
                    )
        return added

    def folders(self) -> list[str]:
        return list(self._by_folder)

    def row_count(self, folder: str) -> int:
        columns = self._by_folder.get(folder)
        return len(columns["trace_id"]) if columns else 0

    def take(self, folder: str) -> Columns:
        return self._by_folder.pop(folder, None) or empty_columns()

    def put_back(self, folder: str, columns: Columns) -> None:
        """Return rows whose write failed, ahead of any rows that arrived since."""
        newer = self._by_folder.get(folder)
        if newer is not None:
            for name in COLUMNS:
                columns[name].extend(newer[name])
        self._by_folder[folder] = columns
