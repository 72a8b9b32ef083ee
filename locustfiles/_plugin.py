"""Wires the lab into Locust: settings, record, tracing, metrics, health, checks.

Imported (once, as `locustfiles._plugin`) by every locustfile. What runs where:

| role          | record + tracing | metrics, events.jsonl, checks |
|---------------|------------------|-------------------------------|
| local process | yes              | yes                           |
| worker        | yes              | no (ships counts to master)   |
| master        | no               | yes                           |
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import STATE_INIT, STATE_STOPPED, MasterRunner, WorkerRunner

from lab import trace_sampling
from locustfiles import _tracing
from locustfiles._checks import check_record
from locustfiles._events import EventLog
from locustfiles._guard import install_guard
from locustfiles._metrics import LocustCollector, serve_metrics
from locustfiles._record import RequestRecorder, count_record_rows
from locustfiles._settings import LabSettings, SettingsError, new_run_id, settings_from_options
from locustfiles._shapes import LabShape, StepVerdict, resolve_stages
from locustfiles._targets import load_run_targets

logger = logging.getLogger("locustfiles")

EXIT_BREACH = 1  # same codes as `lab` (lab/errors.py)
EXIT_UNTRUSTWORTHY = 3
RECORD_WAIT_S = 10.0
HEALTH_POLL_S = 1.0


class LabPlugin:
    """One per process; knows whether it runs on a master, a worker or alone."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.runner = environment.runner
        self.is_master = isinstance(self.runner, MasterRunner)
        self.is_worker = isinstance(self.runner, WorkerRunner)
        self.worker_id = self.runner.client_id if self.is_worker else "local"
        self.settings: LabSettings | None = None
        self.events_log: EventLog | None = None
        self.recorder: RequestRecorder | None = None
        self.tracing: _tracing.LabTracing | None = None
        self.workers_rows: dict[str, int] = {}
        self.workers_dropped: dict[str, int] = {}
        self.lost_workers: set[str] = set()
        self.cpu_warned: set[str] = set()
        self.metrics_server: Any = None
        self._health: gevent.Greenlet | None = None
        self._finished = False

    # --- init -------------------------------------------------------------------------------
    def configure(self) -> None:
        options = self.environment.parsed_options
        try:
            settings = settings_from_options(options)
        except SettingsError as exc:
            sys.stderr.write(f"locustfiles: {exc}\n")
            raise SystemExit(2) from exc
        try:  # read again by each process's LabTracing; checked once here
            trace_sampling.tail_enabled()
            trace_sampling.slow_quantile()
            trace_sampling.keep_slowest()
        except trace_sampling.SamplingSettingError as exc:
            sys.stderr.write(f"locustfiles: {exc}\n")
            raise SystemExit(2) from exc
        if not settings.run_id and not self.is_worker:
            run_id = new_run_id(settings.profile)
            options.lab_run_id = run_id  # shipped to workers with each spawn message
            settings = settings_from_options(options)
        self.settings = settings
        self._restrict_scenario(settings.scenario)
        LabShape.settings = settings
        events_ = self.environment.events
        events_.request.add_listener(self.on_request)
        events_.test_start.add_listener(self.on_test_start)
        events_.test_stop.add_listener(self.on_test_stop)
        events_.quitting.add_listener(self.on_quitting)
        if self.is_worker:
            events_.report_to_master.add_listener(self.on_report_to_master)
            return
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        self.events_log = EventLog(settings.events_file)
        LabShape.targets = load_run_targets(settings.run_dir)
        LabShape.on_breaking_point = self.on_breaking_point
        stages = resolve_stages(settings)
        logger.info(
            "lab run %s: profile %s, peak %d users, %d s, results in %s",
            settings.run_id,
            settings.profile,
            max(stage.users for stage in stages),
            int(stages[-1].end_s),
            settings.run_dir,
        )
        self.events_log.write(
            "run_started",
            run_id=settings.run_id,
            profile=settings.profile,
            role="master" if self.is_master else "local",
            stages=[stage.__dict__ for stage in stages],
        )
        if self.is_master:
            events_.worker_report.add_listener(self.on_worker_report)
        self._start_metrics(settings)
        self._health = gevent.spawn(self._watch_health)

    def _restrict_scenario(self, scenario: str) -> None:
        if not scenario:
            return
        chosen = [cls for cls in self.environment.user_classes if cls.__name__ == scenario]
        if not chosen:
            names = ", ".join(sorted(cls.__name__ for cls in self.environment.user_classes))
            sys.stderr.write(
                f"locustfiles: LAB_SCENARIO={scenario!r} is not a user class ({names})\n"
            )
            raise SystemExit(2)
        self.environment.user_classes = chosen

    def _start_metrics(self, settings: LabSettings) -> None:
        if settings.metrics_port < 0:
            return
        collector = LocustCollector(self.runner, settings.run_id, self.dropped_spans_by_worker)
        try:
            self.metrics_server, port = serve_metrics(
                collector, settings.metrics_host, settings.metrics_port
            )
        except OSError as exc:
            logger.error(
                "Prometheus endpoint not started on %s:%d: %s (set LAB_LOCUST_METRICS_PORT)",
                settings.metrics_host,
                settings.metrics_port,
                exc,
            )
            return
        logger.info(
            "Locust metrics for Prometheus at http://%s:%d/metrics", settings.metrics_host, port
        )

    # --- record and tracing (local, worker) -------------------------------------------------
    def on_test_start(self, environment: Environment, **_kwargs: Any) -> None:
        if self.is_master:
            return
        settings = settings_from_options(
            environment.parsed_options
        )  # a worker has the master's now
        self.settings = settings
        if self.recorder is None or self.recorder.run_id != settings.run_id:
            folder = settings.run_dir / "requests" / self.worker_id
            self.recorder = RequestRecorder(
                folder, self.worker_id, settings.run_id, flush_seconds=settings.record_flush_seconds
            )
        self.recorder.start_timer()
        if self.tracing is None and not _tracing.tracing_disabled_by_environ():
            self.tracing = _tracing.LabTracing(
                settings.run_id, settings.trace_sample_ratio, worker_id=self.worker_id
            )
            _tracing.activate(self.tracing)

    def on_request(self, **kwargs: Any) -> None:
        if self.recorder is not None:
            self.recorder.on_request(**kwargs)
        if self.tracing is not None:
            self.tracing.on_request(**kwargs)

    def on_test_stop(self, environment: Environment, **_kwargs: Any) -> None:
        if self.recorder is not None:
            self.recorder.stop_timer()
            self.recorder.flush()

    def on_report_to_master(self, client_id: str, data: dict[str, Any]) -> None:
        if self.recorder is not None:
            data["lab_record_rows"] = self.recorder.rows_written
        if self.tracing is not None:
            data["lab_spans_dropped"] = self.tracing.dropped_spans

    # --- master bookkeeping -----------------------------------------------------------------
    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        if "lab_record_rows" in data:
            self.workers_rows[client_id] = int(data["lab_record_rows"])
        if "lab_spans_dropped" in data:
            self.workers_dropped[client_id] = int(data["lab_spans_dropped"])

    def dropped_spans_by_worker(self) -> dict[str, int]:
        if self.is_master:
            return dict(self.workers_dropped)
        return {"local": self.tracing.dropped_spans if self.tracing is not None else 0}

    def on_breaking_point(self, held: StepVerdict | None, broke: StepVerdict) -> None:
        if self.events_log is None:
            return
        self.events_log.write(
            "breaking_point",
            reason=broke.broken_by,
            broke_at_users=broke.users,
            held_users=held.users if held else None,
            held_rps=round(held.rps, 2) if held else None,
        )

    def _watch_health(self) -> None:
        """Record lost workers and CPU saturation (Locust's own 90 % warning)."""
        while True:
            self._check_health_once()
            gevent.sleep(HEALTH_POLL_S)

    def _check_health_once(self) -> None:
        assert self.events_log is not None
        runner = self.runner
        if runner.cpu_warning_emitted and self.worker_id not in self.cpu_warned:
            name = "master" if self.is_master else "local"
            self.cpu_warned.add(self.worker_id)
            self.events_log.write("cpu_warning", worker=name, cpu_percent=runner.current_cpu_usage)
        if not self.is_master:
            return
        for node in list(runner.clients.values()):
            if node.state == "missing" and node.id not in self.lost_workers:
                self.lost_workers.add(node.id)
                logger.warning(
                    "worker %s lost (no heartbeat): results are not trustworthy", node.id
                )
                self.events_log.write("worker_lost", worker=node.id)
            if node.cpu_warning_emitted and node.id not in self.cpu_warned:
                self.cpu_warned.add(node.id)
                self.events_log.write("cpu_warning", worker=node.id, cpu_percent=node.cpu_usage)

    # --- end of run -------------------------------------------------------------------------
    def on_quitting(self, environment: Environment, **_kwargs: Any) -> None:
        if self.runner.state not in (STATE_INIT, STATE_STOPPED):
            # SIGTERM or Ctrl-C: Locust fires `quitting` before it stops the users, so stop
            # them first; else requests would go on after the record's last flush.
            self.runner.stop()
        if self.recorder is not None:
            self.recorder.stop_timer()
            self.recorder.flush()
        if self.tracing is not None:
            self.tracing.shutdown(timeout_s=3.0)
            if self.tracing.tail:
                logger.info(
                    "tail sampling: %d traced tasks kept, %d discarded",
                    self.tracing.tasks_kept,
                    self.tracing.tasks_discarded,
                )
            if self.tracing.dropped_spans and self.is_worker:
                logger.warning("%d spans dropped by the exporter", self.tracing.dropped_spans)
        if self.is_worker or self._finished or self.settings is None or self.events_log is None:
            return
        self._finished = True
        if self._health is not None:
            self._health.kill(block=False)
        self._check_health_once()
        self._finish_run(environment)
        if self.metrics_server is not None:
            self.metrics_server.stop(timeout=1)

    def _wait_for_record(self, expected: int) -> int:
        assert self.settings is not None
        deadline = time.monotonic() + (2.0 if self.lost_workers else RECORD_WAIT_S)
        rows = count_record_rows(self.settings.run_dir)
        while rows < expected and time.monotonic() < deadline:
            gevent.sleep(0.2)
            rows = count_record_rows(self.settings.run_dir)
        return rows

    def _finish_run(self, environment: Environment) -> None:
        assert self.settings is not None
        assert self.events_log is not None
        stats = self.runner.stats.total
        expected = stats.num_requests
        rows = self._wait_for_record(expected)
        if rows != expected:
            logger.warning("per-request record has %d rows, Locust counted %d", rows, expected)
            self.events_log.write("record_incomplete", recorded=rows, locust_requests=expected)
        dropped = sum(self.dropped_spans_by_worker().values())
        if dropped:
            self.events_log.write("spans_dropped", count=dropped)
        targets = load_run_targets(self.settings.run_dir)
        result = check_record(self.settings.run_dir, targets)
        messages = [failure.message() for failure in result.failures]
        exceptions = sum(item["count"] for item in self.runner.exceptions.values())
        if exceptions:
            messages.append(
                f"CHECK FAILED: {exceptions} unhandled exceptions in user code (threshold 0)"
            )
        for failure in result.failures:
            self.events_log.write(
                "check_failed",
                check=failure.check,
                name=failure.name,
                value=failure.value,
                threshold=failure.threshold,
            )
        for message in messages:
            logger.error(message)
        untrustworthy = self.events_log.untrustworthy_reasons
        if untrustworthy:
            logger.error(
                "run %s is not trustworthy: %s", self.settings.run_id, ", ".join(untrustworthy)
            )
            self.events_log.write("untrustworthy", reasons=untrustworthy)
        if messages:
            code = EXIT_BREACH
        elif untrustworthy:
            code = EXIT_UNTRUSTWORTHY
        else:
            code = 0
            logger.info("all target checks passed (%d requests in the record)", rows)
        environment.process_exit_code = code
        self.events_log.write(
            "run_finished",
            requests=expected,
            failures=stats.num_failures,
            record_rows=rows,
            exit_code=code,
        )


_plugin: LabPlugin | None = None


@events.init.add_listener
def _on_init(environment: Environment, runner: Any = None, **_kwargs: Any) -> None:
    global _plugin
    if runner is None or environment.parsed_options is None:
        return  # run_single_user and library use: no run folder, no checks
    install_guard(environment)  # login, target allow-list, fixed runs folder (_guard.py)
    _plugin = LabPlugin(environment)
    _plugin.configure()


def plugin() -> LabPlugin | None:
    return _plugin
