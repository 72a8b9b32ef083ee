"""Jaeger's query API over the trace archive: open any archived trace in Jaeger's format.

    python -m observability.trace_archive.query [--runs-dir runs] [--host 127.0.0.1] [--port 16687]

Routes (Jaeger v2.8.0, cmd/query/app/http_handler.go; parameters as its query_parser.go
parses them and as Grafana's Jaeger datasource sends them):

    GET /api/services                          service names
    GET /api/services/{service}/operations     span names of a service
    GET /api/operations?service=&spanKind=     [{"name", "spanKind"}]
    GET /api/traces/{traceID}[?start=&end=]    one trace (404 when no run holds it)
    GET /api/traces?service=&operation=&tags=&tag=&minDuration=&maxDuration=&start=&end=&limit=
                                               traces with a matching span, newest first
    GET /healthz

Times are Unix microseconds, durations Go strings ("500ms"), `tags` a JSON object,
`limit` defaults to 100. Settings: LAB_RUNS_DIR, LAB_TRACE_QUERY_HOST, LAB_TRACE_QUERY_PORT.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import duckdb

from lab.contract import EXIT_BAD_INPUT
from observability.trace_archive.jaeger_json import (
    QueryError,
    envelope,
    error_envelope,
    parse_go_duration,
    parse_tags,
    trace_json,
)
from observability.trace_archive.span_index import SpanIndex, SpanSearch

LOG = logging.getLogger("trace_archive.query")
DEFAULT_PORT = 16687
DEFAULT_LIMIT = 100  # Jaeger's defaultQueryLimit
HEX = set("0123456789abcdef")


def _micros_param(query: dict[str, list[str]], name: str) -> int | None:
    """A Unix-microsecond parameter as nanoseconds, None when absent."""
    raw = (query.get(name) or [""])[-1]
    if raw == "":
        return None
    try:
        return int(raw) * 1000
    except ValueError:
        raise QueryError(f"unable to parse param '{name}': {raw!r} is not an integer") from None


def _trace_id(text: str) -> str:
    trace_id = text.strip().lower()
    if not trace_id or len(trace_id) > 32 or not set(trace_id) <= HEX:
        raise QueryError(f"cannot parse traceID {text!r}")
    return trace_id.rjust(32, "0")  # Jaeger prints a zero high half as 16 digits


class QueryApi:
    """The routes, independent of the HTTP server: (status, JSON body) per request."""

    def __init__(self, index: SpanIndex) -> None:
        self.index = index

    def handle(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        try:
            if parts == ["api", "services"]:
                services = self.index.services()
                return 200, envelope(services, total=len(services))
            if len(parts) == 4 and parts[:2] == ["api", "services"] and parts[3] == "operations":
                names = sorted({name for name, _ in self.index.operations(parts[2])})
                return 200, envelope(names, total=len(names))
            if parts == ["api", "operations"]:
                service = (query.get("service") or [""])[-1]
                if not service:
                    raise QueryError("parameter 'service' is required")
                kind = (query.get("spanKind") or [""])[-1] or None
                ops = self.index.operations(service, kind)
                data = [{"name": name, "spanKind": k} for name, k in ops]
                return 200, envelope(data, total=len(data))
            if len(parts) == 3 and parts[:2] == ["api", "traces"]:
                return self._trace(parts[2], query)
            if parts == ["api", "traces"]:
                return self._search(query)
        except QueryError as exc:
            return 400, error_envelope(400, str(exc))
        except duckdb.Error as exc:
            LOG.error("query failed: %s", exc)
            return 500, error_envelope(500, f"archive query failed: {type(exc).__name__}")
        return 404, error_envelope(404, f"no route {path}")

    def _trace(self, raw_id: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        trace_id = _trace_id(raw_id)
        found = self.index.load_traces(
            [trace_id], start_ns=_micros_param(query, "start"), end_ns=_micros_param(query, "end")
        )
        if trace_id not in found:
            return 404, error_envelope(404, "trace not found")
        return 200, envelope([trace_json(trace_id, found[trace_id])])

    def _search(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        ids = [_trace_id(t) for t in query.get("traceID", [])]
        start_ns, end_ns = _micros_param(query, "start"), _micros_param(query, "end")
        if not ids:
            service = (query.get("service") or [""])[-1]
            if not service:
                raise QueryError("parameter 'service' is required")
            min_d = (query.get("minDuration") or [""])[-1]
            max_d = (query.get("maxDuration") or [""])[-1]
            search = SpanSearch(
                service=service,
                operation=(query.get("operation") or [""])[-1] or None,
                tags=parse_tags(query.get("tag", []), query.get("tags", [])),
                min_duration_ns=parse_go_duration(min_d, "minDuration") if min_d else None,
                max_duration_ns=parse_go_duration(max_d, "maxDuration") if max_d else None,
                start_ns=start_ns,
                end_ns=end_ns,
                limit=self._limit(query),
            )
            if (
                search.min_duration_ns
                and search.max_duration_ns
                and search.max_duration_ns < search.min_duration_ns
            ):
                raise QueryError("'maxDuration' should be greater than 'minDuration'")
            ids = self.index.find_trace_ids(search)
        found = self.index.load_traces(ids)
        data = [trace_json(t, found[t]) for t in ids if t in found]
        errors = [{"msg": "trace not found", "traceID": t} for t in ids if t not in found]
        return 200, envelope(data, errors=errors or None)

    @staticmethod
    def _limit(query: dict[str, list[str]]) -> int:
        raw = (query.get("limit") or [""])[-1]
        if raw == "":
            return DEFAULT_LIMIT
        try:
            limit = int(raw)
        except ValueError:
            raise QueryError(f"unable to parse param 'limit': {raw!r}") from None
        return limit if limit > 0 else DEFAULT_LIMIT


def make_handler(api: QueryApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "lab-trace-query"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/healthz":
                self._send(200, {"status": "ok"})
                return
            status, body = api.handle(url.path, parse_qs(url.query, keep_blank_values=True))
            self._send(status, body)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            LOG.debug(format, *args)

    return Handler


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m observability.trace_archive.query", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs-dir", default=env.get("LAB_RUNS_DIR", "runs"))
    parser.add_argument("--host", default=env.get("LAB_TRACE_QUERY_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=int(env.get("LAB_TRACE_QUERY_PORT", DEFAULT_PORT))
    )
    parser.add_argument("--ready-file", type=Path, help="write the bound port here once listening")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    runs_dir = Path(args.runs_dir)
    if not runs_dir.is_dir():
        print(f"trace query: runs folder {runs_dir} does not exist", file=sys.stderr)
        return EXIT_BAD_INPUT
    server = ThreadingHTTPServer(
        (args.host, args.port), make_handler(QueryApi(SpanIndex(runs_dir)))
    )
    server.daemon_threads = True
    port = server.server_address[1]
    if args.ready_file:
        args.ready_file.write_text(f"{port}\n")
    LOG.info("Jaeger query API over %s on %s:%d", runs_dir, args.host, port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
