"""A small Prometheus HTTP API client (instant and range queries), standard library only."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from lab.errors import LabError


class PrometheusUnavailable(LabError):
    """Prometheus could not be reached or refused the query."""


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (unix seconds, value)

    def label_text(self) -> str:
        shown = {k: v for k, v in self.labels.items() if k != "__name__"}
        name = self.labels.get("__name__", "")
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(shown.items()))
        return f"{name}{{{inner}}}"


class Prometheus:
    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _get(self, path: str, params: dict[str, str]) -> dict:
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        if not url.startswith(("http://", "https://")):
            raise PrometheusUnavailable(f"Prometheus URL {self.base_url!r} must start with http://")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:  # noqa: S310
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode(errors="replace")
            raise PrometheusUnavailable(
                f"Prometheus at {self.base_url} refused the query: {detail}"
            ) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PrometheusUnavailable(
                f"Prometheus unreachable at {self.base_url} ({reason}); "
                "start the lab or pass --prometheus URL"
            ) from exc
        if body.get("status") != "success":
            raise PrometheusUnavailable(f"Prometheus query failed: {body.get('error', body)}")
        return body["data"]

    def ready(self) -> None:
        """Raise PrometheusUnavailable unless the server answers a trivial query."""
        self.instant("vector(1)")

    def instant(self, query: str, at: float | None = None) -> list[Series]:
        params = {"query": query}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        result = data.get("result", [])
        if data.get("resultType") == "scalar":
            return [Series({}, [(float(result[0]), float(result[1]))])]
        return [
            Series(item.get("metric", {}), [(float(item["value"][0]), float(item["value"][1]))])
            for item in result
        ]

    def range(self, query: str, start: float, end: float, step_s: float) -> list[Series]:
        data = self._get(
            "/api/v1/query_range",
            {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}"},
        )
        return [
            Series(
                item.get("metric", {}), [(float(t), float(v)) for t, v in item.get("values", [])]
            )
            for item in data.get("result", [])
        ]


def range_step(start: float, end: float, max_points: int = 600) -> float:
    """A step that keeps a range query under `max_points` points (and at least 1 s)."""
    return max(1.0, round((end - start) / max_points))
