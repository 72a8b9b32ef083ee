"""OpenTelemetry for the app, set up once per process (per gunicorn worker, after fork).

The batch span processor runs a background thread, which does not survive fork(): gunicorn's
post_fork hook calls configure_tracing() in each worker, never the master.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from opentelemetry import baggage, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)

from jewelry.observability import metrics
from lab.run_token import (
    RUN_ID_BAGGAGE,
    RUN_TOKEN_BAGGAGE,
    key_from_environ,
    token_is_valid,
)

logger = logging.getLogger(__name__)

SERVICE_NAME = "jewelry-app"
# Baggage set by Locust that every span of the request should carry as attributes, so the
# trace archive can file psycopg2 and Redis spans under the run that caused them. Copied only
# when the baggage's run token proves it came from the lab's Locust (lab/run_token.py).
PROPAGATED_BAGGAGE = (RUN_ID_BAGGAGE, "synthetic_request")
_configured = False


def from_lab_load_generator(context: Context | None, key: bytes | None) -> bool:
    """True when the context's baggage carries a valid run token for its run id."""
    return token_is_valid(
        baggage.get_baggage(RUN_ID_BAGGAGE, context),
        baggage.get_baggage(RUN_TOKEN_BAGGAGE, context),
        key,
    )


class BaggageToAttributes(SpanProcessor):
    def __init__(self, key: bytes | None) -> None:
        self._key = key

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if not from_lab_load_generator(parent_context, self._key):
            return  # another caller's baggage: not ours to file under a run
        for key in PROPAGATED_BAGGAGE:
            value = baggage.get_baggage(key, parent_context)
            if value is not None:
                span.set_attribute(key, str(value))


class LabLoadGeneratorSampler(Sampler):
    """Follow a remote caller's sampling decision only when it is the lab's Locust.

    A span with a local parent follows that parent (ParentBased); a request from anyone else
    (a browser, a curl with a forged traceparent and baggage) is not traced at all, so
    outsiders can neither make the app trace everything nor add spans to a run.
    """

    def __init__(self, key: bytes | None) -> None:
        self._key = key
        self._follow = ParentBased(root=ALWAYS_OFF)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: trace.SpanKind | None = None,
        attributes: object = None,
        links: object = None,
        trace_state: object = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        local_parent = parent.is_valid and not parent.is_remote
        if local_parent or from_lab_load_generator(parent_context, self._key):
            return self._follow.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )
        return SamplingResult(Decision.DROP)

    def get_description(self) -> str:
        return "LabLoadGeneratorSampler"


class CountingExporter(SpanExporter):
    """Counts spans exported and spans lost to a failing backend; never raises into the app."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: list[ReadableSpan]) -> SpanExportResult:  # type: ignore[override]
        try:
            result = self._inner.export(spans)
        except Exception:  # a broken backend must never break serving
            logger.exception("span export failed")
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            metrics.SPANS_EXPORTED.inc(len(spans))
        else:
            metrics.SPANS_DROPPED.labels(reason="export_failed").inc(len(spans))
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class DropCountingBatchSpanProcessor(BatchSpanProcessor):
    """BatchSpanProcessor drops the oldest span when its queue is full; count those drops."""

    def on_end(self, span: ReadableSpan) -> None:
        queue = getattr(self._batch_processor, "_queue", None)
        if queue is not None and queue.maxlen is not None and len(queue) >= queue.maxlen:
            metrics.SPANS_DROPPED.labels(reason="queue_full").inc()
        super().on_end(span)


def git_revision() -> str:
    revision = os.environ.get("LAB_GIT_REVISION")
    if revision:
        return revision
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=2,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _sampler(key: bytes | None) -> Sampler | None:
    # Locust decides; the app follows, when the request proves it comes from the lab's
    # Locust. Requests with no parent (health checks, a person's browser) are not traced
    # unless OTEL_TRACES_SAMPLER says otherwise.
    if os.environ.get("OTEL_TRACES_SAMPLER"):
        return None  # the SDK reads OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG itself
    return LabLoadGeneratorSampler(key)


def tracing_requested() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure_tracing(exporter: SpanExporter | None = None) -> TracerProvider | None:
    """Install the tracer provider and the Django, psycopg2 and Redis instrumentations.

    Does nothing when no OTLP endpoint is configured and no exporter is given (plain runs and
    most tests). Call it before the WSGI application is loaded: the Django instrumentation
    inserts its middleware into settings.MIDDLEWARE.
    """
    global _configured
    if _configured or (exporter is None and not tracing_requested()):
        return None
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # endpoint, headers, timeout from OTEL_EXPORTER_OTLP_*
    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME", SERVICE_NAME),
            "service.version": git_revision(),
            "deployment.environment": os.environ.get("LAB_ENVIRONMENT", "perf-lab"),
        }
    )
    key = key_from_environ()
    if key is None:
        logger.warning(
            "LAB_RUN_TOKEN_KEY is unset: no request is trusted as the lab's Locust, so none is "
            "traced or filed under a run (set it as in .env)"
        )
    provider = TracerProvider(resource=resource, sampler=_sampler(key))
    provider.add_span_processor(BaggageToAttributes(key))
    provider.add_span_processor(
        DropCountingBatchSpanProcessor(
            CountingExporter(exporter),
            max_queue_size=int(os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE", "8192")),
        )
    )
    trace.set_tracer_provider(provider)

    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg2 import Psycopg2Instrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    DjangoInstrumentor().instrument(tracer_provider=provider)
    # One correlation mechanism towards PostgreSQL: sqlcommenter's traceparent comment, so
    # pg_stat_statements / slow-query log lines can be tied back to a trace.
    Psycopg2Instrumentor().instrument(
        tracer_provider=provider,
        enable_commenter=True,
        commenter_options={
            "db_driver": False,
            "dbapi_threadsafety": False,
            "dbapi_level": False,
            "driver_paramstyle": False,
            "libpq_version": False,
        },
        skip_dep_check=True,
    )
    RedisInstrumentor().instrument(tracer_provider=provider)
    _configured = True
    return provider
