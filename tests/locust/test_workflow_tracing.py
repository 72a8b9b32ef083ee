"""A workflow transaction's task span, in-process (no Locust): marked, and kept by tail
sampling when the transaction failed or was slow for its workflow, even if no step was.

On a real run (archive, app spans): tests/locust/test_tracing.py.
"""

from __future__ import annotations

import random

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from locustfiles._tracing import LabTracing


class User:
    def span_attributes(self) -> dict[str, object]:
        return {"lab.scenario": "POSSaleWorkflow"}


def run_sale(tracing: LabTracing, duration_ms: float, failure: str | None = None) -> bool:
    """One POS sale task ending with this transaction; True when its trace was kept."""
    kept = tracing.tasks_kept

    def sale(user: User) -> None:
        tracing.end_workflow("POS sale", duration_ms, failure, requests=4)

    tracing.run_task(sale, User())
    return tracing.tasks_kept > kept


def test_failed_or_slow_sales_keep_their_trace_and_ordinary_ones_do_not() -> None:
    sent: list[bytes] = []
    tracing = LabTracing("run", 0.0, sender=lambda body: sent.append(body) or True, tail=True)
    rng = random.Random(3)
    for _ in range(60):  # past the judge's warm-up (its first 20 are kept)
        run_sale(tracing, rng.uniform(400, 600))
    assert not run_sale(tracing, 450.0)  # an ordinary sale: forgotten
    assert run_sale(tracing, 450.0, failure="TenantLeak: tenant 2 data shown to tenant 1")
    assert run_sale(tracing, 9000.0)  # the slowest sale so far
    tracing.shutdown()

    spans = [
        span
        for body in sent
        for resource in ExportTraceServiceRequest.FromString(body).resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]

    def attributes(span) -> dict[str, object]:
        return {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in span.attributes}

    failed = [s for s in spans if attributes(s).get("lab.workflow.success") is False]
    [span] = failed
    assert span.name == "User.sale"
    assert span.parent_span_id == b""  # the task span is the root of the trace
    assert span.status.code == Status.STATUS_CODE_ERROR
    assert span.status.message.startswith("TenantLeak")
    assert attributes(span)["lab.workflow"] == "POS sale"
    assert attributes(span)["lab.workflow.requests"] == 4
    healthy = [s for s in spans if attributes(s).get("lab.workflow.success") is True]
    assert healthy
    assert all(s.status.code != Status.STATUS_CODE_ERROR for s in healthy)
