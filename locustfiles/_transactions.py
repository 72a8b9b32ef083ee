"""Workflow transactions: a whole workflow task timed end to end, with its success.

A scenario marks a task `@workflow("POS sale")`; each run of that task is one transaction:
its time from the task's first step to its last, how many requests it made, and its
failure (the first failed request's reason, an exception of the task, or what the task
itself said with `fail_workflow(...)`), or none. Rows go to
`runs/<id>/transactions/<worker_id>/part-*.parquet` (schema `lab.schemas.TRANSACTION_SCHEMA`)
through the same part writer as the per-request record.

The transaction's span is its task span (`_tracing`): the root of the task's trace and
the parent of every request span of the workflow, marked `lab.workflow`.

Why not `locust_plugins.transaction_manager` (5.0.3): it keeps every transaction of the run
in the master's memory and writes a CSV there only at the end (a soak grows without bound;
a killed master loses everything), rounds durations to whole ms and start times to whole
seconds of local time, carries no tenant, worker, run or trace id, and ships all rows to
the master every report. The lab's record is exact, per worker, crash-safe and linked to
its traces; the few lines here fit it. docs/architecture.md "Workflow transactions".
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from locust.exception import InterruptTaskSet, RescheduleTask, StopUser

from lab.schemas import TRANSACTION_SCHEMA
from locustfiles import _tracing
from locustfiles._record import PartWriter, failure_reason

__all__ = [
    "Transaction",
    "TransactionRecorder",
    "activate",
    "fail_workflow",
    "note_request",
    "workflow",
    "workflow_name",
]

_WORKFLOW_ATTRIBUTE = "lab_workflow"
# Locust's flow control: a task stopped this way was cut off, neither done nor failed.
_CUT_OFF = (StopUser, InterruptTaskSet, RescheduleTask)


class Transaction:
    """The workflow a user's greenlet is in."""

    __slots__ = ("failure", "name", "requests", "started", "started_ns")

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = time.time()
        self.started_ns = time.perf_counter_ns()
        self.requests = 0
        self.failure: str | None = None

    def fail(self, reason: str) -> None:
        if self.failure is None:  # the first failure is the one that broke the workflow
            self.failure = reason


_current: ContextVar[Transaction | None] = ContextVar("lab_transaction", default=None)


class TransactionRecorder(PartWriter):
    """Writes one row per finished transaction of a local runner or a worker."""

    schema = TRANSACTION_SCHEMA
    label = "workflow transactions record"
    record = "transactions"

    def on_transaction(
        self,
        transaction: Transaction,
        duration_us: int,
        scenario: str | None,
        tenant_id: int | None,
    ) -> None:
        columns = self._columns
        columns["ts_start_us"].append(int(transaction.started * 1_000_000))
        columns["scenario"].append(scenario)
        columns["name"].append(transaction.name)
        columns["duration_us"].append(duration_us)
        columns["requests"].append(transaction.requests)
        columns["failure"].append(transaction.failure)
        columns["worker_id"].append(self.worker_id)
        columns["tenant_id"].append(tenant_id)
        columns["trace_id"].append(_tracing.current_trace_id())
        columns["run_id"].append(self.run_id)
        self.rows_seen += 1
        if len(columns["name"]) >= self.flush_rows:
            self.flush()


# The process's recorder, set by the plugin on a local runner or a worker (none: not recorded).
_recorder: TransactionRecorder | None = None


def activate(recorder: TransactionRecorder | None) -> None:
    global _recorder
    _recorder = recorder


def workflow(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a task as one workflow transaction named `name` (put it under `@task`)."""

    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        setattr(function, _WORKFLOW_ATTRIBUTE, name)
        return function

    return mark


def workflow_name(function: Callable[..., Any]) -> str | None:
    return getattr(function, _WORKFLOW_ATTRIBUTE, None)


def note_request(exception: BaseException | str | None = None, **_kwargs: Any) -> None:
    """Locust's request event (in the user's greenlet): a step of the current workflow."""
    transaction = _current.get()
    if transaction is None:
        return
    transaction.requests += 1
    if exception is not None:
        transaction.fail(failure_reason(exception) or "request failed")


def fail_workflow(reason: str) -> None:
    """The task's own verdict: the workflow did not reach its end (e.g. nothing to sell)."""
    transaction = _current.get()
    if transaction is not None:
        transaction.fail(reason)


def as_transaction(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function(user, ...)` run as the transaction `name`; a cut-off run is not recorded."""

    @functools.wraps(function)
    def run(user: Any, *args: Any, **kwargs: Any) -> Any:
        transaction = Transaction(name)
        token = _current.set(transaction)
        cut_off = False
        try:
            return function(user, *args, **kwargs)
        except _CUT_OFF:
            cut_off = True
            raise
        except Exception as exc:  # Locust logs it; the workflow failed
            transaction.fail(failure_reason(exc) or type(exc).__name__)
            raise
        except BaseException:  # GreenletExit: the user was stopped mid-workflow
            cut_off = True
            raise
        finally:
            _current.reset(token)
            if not cut_off:
                _finish(transaction, user)

    return run


def _finish(transaction: Transaction, user: Any) -> None:
    duration_ns = time.perf_counter_ns() - transaction.started_ns
    tracing = _tracing.active()
    if tracing is not None:  # still inside the task's trace scope
        tracing.end_workflow(
            transaction.name, duration_ns / 1e6, transaction.failure, transaction.requests
        )
    if _recorder is not None:
        context = user.context() if hasattr(user, "context") else {}
        _recorder.on_transaction(
            transaction,
            duration_ns // 1000,
            context.get("scenario"),
            context.get("tenant_id"),
        )
