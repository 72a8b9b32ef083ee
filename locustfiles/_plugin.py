"""Wires the lab into Locust: settings, record, tracing, metrics, health, checks.

Imported (once, as `locustfiles._plugin`) by every locustfile. What runs where:

| role          | record + tracing | metrics, events.jsonl, checks |
|---------------|------------------|-------------------------------|
| local process | yes              | yes                           |
| worker        | yes              | no (ships counts to master)   |
| master        | no               | yes                           |
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any, TypeVar

import gevent
import locust.runners
from locust import events
from locust.env import Environment
from locust.exception import RPCError
from locust.runners import (
    STATE_INIT,
    STATE_MISSING,
    STATE_RUNNING,
    STATE_STOPPED,
    WORKER_REPORT_INTERVAL,
    MasterRunner,
    WorkerRunner,
)

from lab import arrival_steps, trace_sampling
from lab.arrival_plan import ArrivalPlan, PlanError, build_plan, check_fits
from lab.contract import (
    ABORT_REASON_BREACH,
    EXIT_BAD_INPUT,
    EXIT_BREACH,
    EXIT_OK,
    EXIT_UNTRUSTWORTHY,
    STATUS_INTERRUPTED,
    RunFolder,
    new_run_id,
)
from locustfiles import _accounts, _arrivals, _delivery, _tracing, _transactions
from locustfiles._breach_window import Abort, BreachWatch, breach_lines, snapshot
from locustfiles._checks import check_record
from locustfiles._events import EventLog
from locustfiles._generator_cpu import CPU_READING_S, CpuSaturation
from locustfiles._guard import install_guard
from locustfiles._load_plan import LoadPlanMonitor
from locustfiles._metrics import LocustCollector, serve_metrics
from locustfiles._record import PartWriter, RequestRecorder, count_record_rows, rows_by_worker
from locustfiles._settings import LabSettings, SettingsError, settings_from_options
from locustfiles._shapes import SHAPES, CommonOptions, LabShape, StepVerdict, resolve_stages
from locustfiles._targets import RunTargets, load_run_targets
from locustfiles._users import LabUser

logger = logging.getLogger("locustfiles")

_Writer = TypeVar("_Writer", bound=PartWriter)

RECORD_WAIT_S = 10.0
ARRIVAL_PLAN_MESSAGE = "lab_arrival_plan"
ARRIVAL_START_MARGIN_S = 0.5  # the plan reaches every worker before its first arrival
# The arrivals start when the pool has signed in, or at this share of the run at the latest
# (a pool that cannot sign in is itself the answer: its late arrivals say so).
ARRIVAL_POOL_WAIT_MAX = 0.5
HEALTH_POLL_S = 1.0
# A worker's own user count reaches the master with its stats, every WORKER_REPORT_INTERVAL
# seconds: a report older than this is a worker that stopped talking.
REPORT_STALE_S = 2 * WORKER_REPORT_INTERVAL + 2.0

# Locust reads its process's CPU this often (its default is 10 s): read before the runner
# exists, which Locust makes after importing the locustfiles (_generator_cpu.py says why).
locust.runners.CPU_MONITOR_INTERVAL = CPU_READING_S


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
        self.transactions: _transactions.TransactionRecorder | None = None
        self.tracing: _tracing.LabTracing | None = None
        self.metrics_server: Any = None
        self._health: gevent.Greenlet | None = None
        # Record parts over Locust's messaging (_delivery.py): a worker's way of
        # delivering is its own setting; the master receives parts from remote workers.
        self.delivery_mode = _delivery.DELIVERY_AUTO
        self.parts_received = _delivery.PartReceiver(self._master_runs_dir)
        # A run started from Locust's web UI (or its HTTP API): the master owns its folder.
        self.web_ui = False
        self._reset_run_state()

    def _reset_run_state(self) -> None:
        self.workers_rows: dict[str, int] = {}
        self.workers_dropped: dict[str, int] = {}
        self.workers_requests: dict[str, int] = {}  # requests each worker reported to the master
        self.workers_signed_in: dict[str, int] = {}  # users each worker has signed in
        self.workers_users: dict[str, tuple[float, int, int]] = {}  # (report time, users, gave up)
        self.lost_workers: set[str] = set()  # missing now
        self.ever_lost: set[str] = set()
        self.cpu_warned: set[str] = set()
        self.load_plan = LoadPlanMonitor()
        self.arrival_plan: ArrivalPlan | None = None
        self.arrival_pending: tuple[float, float, int] | None = None  # (start, planned s, users)
        self.users_gave_up = 0
        self.load_started_at: float | None = None  # time.monotonic() of test_start
        self.load_stopped_at: float | None = None
        self.planned_s: float | None = None
        self._running_since: float | None = None  # time.time() the last ramp ended
        self._finished = False
        self.breach_watch: BreachWatch | None = None  # --abort-on-breach (_breach_window.py)
        self.abort_targets: RunTargets | None = None  # set when the run's targets arm it
        self.aborted: Abort | None = None
        self.cpu_saturation: CpuSaturation | None = None  # _generator_cpu.py

    # --- init -------------------------------------------------------------------------------
    def configure(self) -> None:
        options = self.environment.parsed_options
        try:
            settings = settings_from_options(options)
        except SettingsError as exc:
            sys.stderr.write(f"locustfiles: {exc}\n")
            raise SystemExit(EXIT_BAD_INPUT) from exc
        try:  # read again by each process's LabTracing; checked once here
            trace_sampling.tail_enabled()
            trace_sampling.slow_quantile()
            trace_sampling.keep_slowest()
        except trace_sampling.SamplingSettingError as exc:
            sys.stderr.write(f"locustfiles: {exc}\n")
            raise SystemExit(EXIT_BAD_INPUT) from exc
        # Every user class's roles, before LAB_SCENARIO narrows them: master and workers
        # register the same account hand-out messages whatever the UI picks later.
        _accounts.prepare(
            self.environment,
            {
                cls.preferred_roles
                for cls in self.environment.user_classes
                if issubclass(cls, LabUser) or getattr(cls, "lab_browser", False)
            },
        )
        self._restrict_scenario(settings.scenario)
        if self.is_worker or self.is_master:
            self._install_delivery()
        if not self.is_worker:  # the master dispatches; a worker keeps every class it may get
            self._choose_browser_users(settings)
        if not self.is_worker and settings.arrival_mode is not None:
            stage = resolve_stages(settings, CommonOptions.from_options(options))[-1]
            try:  # refused now, not at test start: a plan the duration cannot hold
                check_fits(
                    duration_s=stage.end_s,
                    users=stage.users,
                    spawn_rate=stage.spawn_rate,
                    rate=settings.arrival_rate,
                )
            except PlanError as exc:
                sys.stderr.write(f"locustfiles: {exc}\n")
                raise SystemExit(EXIT_BAD_INPUT) from exc
        LabShape.settings = settings
        LabShape.launch_options = CommonOptions.from_options(options)
        events_ = self.environment.events
        events_.request.add_listener(self.on_request)
        events_.test_start.add_listener(self.on_test_start)
        events_.test_stop.add_listener(self.on_test_stop)
        events_.quitting.add_listener(self.on_quitting)
        if self.is_worker:
            self.settings = settings
            events_.report_to_master.add_listener(self.on_report_to_master)
            self.runner.register_message(ARRIVAL_PLAN_MESSAGE, self.on_arrival_plan)
            return
        # Missing heartbeats for this many seconds make a worker "missing" (Locust's own 3 s
        # flags busy workers on a loaded 2-core machine). Read by Locust when workers connect.
        locust.runners.HEARTBEAT_LIVENESS = settings.heartbeat_liveness
        headless = bool(getattr(options, "headless", False) or getattr(options, "autostart", False))
        self.web_ui = not headless and not settings.run_id
        if self.is_master:
            events_.worker_report.add_listener(self.on_worker_report)
        if headless:
            self._stop_gracefully_on_sigterm()
        if self.web_ui:
            # No run folder until a test starts: each test gets its own (on_test_start).
            self.settings = settings
            logger.info(
                "lab: web UI mode, each test started becomes a run in %s", settings.runs_dir
            )
        else:
            if not settings.run_id:
                options.lab_run_id = new_run_id(settings.profile)  # shipped to the workers
                settings = settings_from_options(options)
            self._open_run(settings)
        self._start_metrics(settings)
        self._health = gevent.spawn(self._watch_health)

    def _install_delivery(self) -> None:
        if self.is_worker:
            try:
                self.delivery_mode = _delivery.worker_delivery_mode()
                _delivery.chunk_bytes()
            except _delivery.DeliverySettingError as exc:
                sys.stderr.write(f"locustfiles: {exc}\n")
                raise SystemExit(EXIT_BAD_INPUT) from exc
        else:
            self.runner.register_message(_delivery.MSG_PART_CHUNK, self.parts_received.on_chunk)

    def _master_runs_dir(self) -> Path | None:
        return self.settings.runs_dir if self.settings is not None else None

    def _stop_gracefully_on_sigterm(self) -> None:
        """SIGTERM (`lab run` stopping, `docker stop`) ends a headless run like Ctrl-C does.

        A headless Locust with a shape class waits for the shape inside `main()` before it
        installs its own SIGTERM handler, so a SIGTERM would kill the master outright: no
        `run_finished`, no checks. Its Ctrl-C path stops the users, quits and fires
        `quitting`: a SIGTERM is turned into that KeyboardInterrupt in the main greenlet.
        """
        main = gevent.getcurrent()

        def interrupt() -> None:
            logger.info("lab: SIGTERM, stopping the run as on Ctrl-C (results are kept)")
            gevent.kill(main, KeyboardInterrupt)

        gevent.signal_handler(signal.SIGTERM, interrupt)

    def _open_run(self, settings: LabSettings, common: CommonOptions | None = None) -> None:
        """The run's folder and events.jsonl: at init for `lab run`, at test start for the UI."""
        self.settings = settings
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        self.events_log = EventLog(settings.events_file)
        # Shipped to the workers with the spawn: a worker that reads it back from this run's
        # events.jsonl shares this folder (_delivery.shares_master_folder).
        nonce = _delivery.new_folder_nonce()
        self.environment.parsed_options.lab_folder_nonce = nonce
        LabShape.targets = load_run_targets(settings.run_dir)
        LabShape.on_breaking_point = self.on_breaking_point
        LabShape.on_step = self.on_stress_step
        LabShape.users_ready = self.users_ready
        stages = resolve_stages(settings, common or LabShape.launch_options)
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
            heartbeat_liveness_s=settings.heartbeat_liveness,
            folder_nonce=nonce,
        )

    def _restrict_scenario(self, scenario: str) -> None:
        if not scenario:
            return
        chosen = [cls for cls in self.environment.user_classes if cls.__name__ == scenario]
        if not chosen:
            names = ", ".join(sorted(cls.__name__ for cls in self.environment.user_classes))
            sys.stderr.write(
                f"locustfiles: LAB_SCENARIO={scenario!r} is not a user class ({names})\n"
            )
            raise SystemExit(EXIT_BAD_INPUT)
        self.environment.user_classes = chosen

    def _choose_browser_users(self, settings: LabSettings) -> None:
        """Browser users (real Chromium) are off unless asked for: LAB_BROWSERS=N makes N of
        the users BrowserUser (Locust's fixed_count), LAB_SCENARIO=BrowserUser all of them."""
        classes = self.environment.user_classes
        browsers = [cls for cls in classes if getattr(cls, "lab_browser", False)]
        if not browsers or settings.scenario in {cls.__name__ for cls in browsers}:
            return
        if settings.browsers <= 0:
            self.environment.user_classes = [cls for cls in classes if cls not in browsers]
            return
        for cls in browsers:
            cls.fixed_count = settings.browsers

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

    # --- start of the load ------------------------------------------------------------------
    def on_test_start(self, environment: Environment, **_kwargs: Any) -> None:
        LabUser.gave_up = 0
        LabUser.signed_in = 0
        if not self.is_worker:
            self._start_load(environment)
        if self.is_master:
            return
        # A worker has the master's options now (run id, profile, sampling ratio).
        settings = settings_from_options(environment.parsed_options)
        self.settings = settings
        if self.recorder is None or self.recorder.run_id != settings.run_id:
            if self.recorder is not None:
                self.recorder.stop_timer()
                self.recorder.flush()
            self.recorder = self.new_part_writer(RequestRecorder, settings)
        self.recorder.start_timer()
        if self.transactions is None or self.transactions.run_id != settings.run_id:
            self._flush_transactions()
            self.transactions = self.new_part_writer(_transactions.TransactionRecorder, settings)
            _transactions.activate(self.transactions)
        self.transactions.start_timer()
        # Open model: signed-in users wait for the master's plan (on_arrival_plan).
        _arrivals.prepare(environment.user_classes, settings.arrival_mode)
        if _tracing.tracing_disabled_by_environ():
            return
        if self.tracing is not None and self.tracing.run_id != settings.run_id:
            self.tracing.shutdown(timeout_s=3.0)  # the previous UI test's spans
            self.tracing = None
        if self.tracing is None:
            self.tracing = _tracing.LabTracing(
                settings.run_id, settings.trace_sample_ratio, worker_id=self.worker_id
            )
            _tracing.activate(self.tracing)

    def new_part_writer(self, kind: type[_Writer], settings: LabSettings) -> _Writer:
        """A record's writer (requests or transactions). A local process, or a worker sharing
        the master's folder, writes its parts there; a worker that does not sends them to the
        master (_delivery.py)."""
        if not self.is_worker:
            folder = settings.folder
            sink = None
        else:
            own = RunFolder(_delivery.worker_runs_dir(settings.runs_dir) / settings.run_id)
            nonce = str(getattr(self.environment.parsed_options, "lab_folder_nonce", "") or "")
            remote = self.delivery_mode == _delivery.DELIVERY_MASTER or (
                self.delivery_mode == _delivery.DELIVERY_AUTO
                and not _delivery.shares_master_folder(own, nonce)
            )
            folder = own
            sink = None
            if remote:
                sink = _delivery.PartSender(
                    self.runner.send_message,
                    settings.run_id,
                    _delivery.chunk_bytes(),
                    transport_errors=(RPCError,),
                    record=kind.record,
                )
            where = _delivery.RECORD_FOLDERS[kind.record](own, self.worker_id)
            logger.info(
                "lab: worker %s %s", self.worker_id,
                f"sends its {kind.label} parts to the master" if remote
                else f"writes its {kind.label} parts to {where}",
            )  # fmt: skip
        return kind(
            _delivery.RECORD_FOLDERS[kind.record](folder, self.worker_id),
            self.worker_id,
            settings.run_id,
            flush_seconds=settings.record_flush_seconds,
            sink=sink,
        )

    def _start_load(self, environment: Environment) -> None:
        """Master or local process: the load starts now; a web UI test becomes a run here."""
        options = environment.parsed_options
        if self.web_ui:
            if self.settings is not None and self.events_log is not None and not self._finished:
                self._finish_run(environment)  # a test restarted before the last one finished
            self._reset_run_state()
            options.lab_run_id = new_run_id(str(getattr(options, "lab_profile", "smoke")))
            settings = settings_from_options(options)  # shipped to workers with the spawn
            self._write_ui_meta(settings, options)
            self._open_run(settings, CommonOptions.from_options(options))
        assert self.settings is not None
        assert self.events_log is not None
        shape = environment.shape_class
        common = shape.common_options() if isinstance(shape, LabShape) else CommonOptions()
        stages = resolve_stages(self.settings, common) if isinstance(shape, LabShape) else []
        if stages:
            self.planned_s = stages[-1].end_s
        else:  # Locust's own shape-less run: its run time, if any, is the plan
            run_time = getattr(options, "run_time", None)
            self.planned_s = float(run_time) if run_time else None
        self.arrival_plan = None
        self.arrival_pending = None
        if self.settings.arrival_mode is not None and stages:
            # The plan waits for the pool to sign in (_start_arrivals_when_ready).
            self.arrival_pending = (time.time(), stages[-1].end_s, stages[-1].users)
        self.load_started_at = time.monotonic()
        self.events_log.write(
            "load_started",
            planned_s=self.planned_s,
            stages=[stage.__dict__ for stage in stages],
            users=getattr(options, "num_users", None) if not stages else None,
        )
        self._arm_watches(self.load_started_at)

    def _arm_watches(self, started_at: float) -> None:
        """The generator CPU check, and the abort on breach when the run's targets ask for it."""
        assert self.settings is not None
        assert self.events_log is not None
        targets = load_run_targets(self.settings.run_dir)
        self.cpu_saturation = CpuSaturation(
            targets.generator_cpu_max_pct,
            targets.generator_cpu_sustained_s,
            float(locust.runners.CPU_MONITOR_INTERVAL),
        )
        self.breach_watch = self.abort_targets = None
        if not targets.abort_on_breach:
            return
        profile = SHAPES.get(self.settings.profile)
        if profile is not None and profile.evaluate_steps:
            # Stress ends at its first broken step on purpose: that step is its answer.
            logger.info("abort on breach: not in profile %s (it stops at its breaking point)",
                        self.settings.profile)  # fmt: skip
            return
        self.abort_targets = targets  # the watch starts at the first plateau (_check_breach)
        detail = {
            "window_s": BreachWatch(targets, started_at).window_s,
            "every_s": targets.abort_every_s,
            "consecutive": targets.abort_consecutive,
            "warmup_s": targets.abort_warmup_s,
            "min_requests": targets.abort_min_requests,
        }
        logger.info("abort on breach armed: %s", detail)
        self.events_log.write("abort_armed", **detail)

    def _start_arrivals_when_ready(self) -> None:
        """Open model: once the pool has signed in (or half the run has gone), fix the plan
        from now to the end and send it to every worker (a local run starts it here)."""
        if self.arrival_pending is None or self.settings is None or self.events_log is None:
            return
        started, planned_s, users = self.arrival_pending
        ready = self.users_ready()
        now = time.time()
        if ready < users and now < started + ARRIVAL_POOL_WAIT_MAX * planned_s:
            return
        self.arrival_pending = None
        settings = self.settings
        if self.is_master:
            workers = tuple(sorted(node.id for node in self.runner.clients.values()))
        else:
            workers = (self.worker_id,)
        plan = build_plan(
            t0=now + ARRIVAL_START_MARGIN_S,
            end=started + planned_s,
            users=users,
            rate=settings.arrival_rate,
            steps=10 if settings.profile == "stress" else 1,
            workers=workers or ("local",),
            mode="open" if settings.arrival_mode == "open" else "paced",
        )
        self.arrival_plan = plan
        if ready < users:
            logger.warning("arrivals start with %d of %d users signed in", ready, users)
        self.events_log.write(
            "arrival_plan", pool_signed_in=ready, sign_in_s=round(now - started, 1),
            **json.loads(plan.to_json()),
        )  # fmt: skip
        if self.is_master:
            self.runner.send_message(ARRIVAL_PLAN_MESSAGE, plan.to_json())
        else:
            _arrivals.start(self.environment.user_classes, plan, self.worker_id)

    def on_arrival_plan(self, environment: Environment, msg: Any, **_kwargs: Any) -> None:
        """Worker: the master's plan; this worker's share of the arrivals starts."""
        _arrivals.start(environment.user_classes, ArrivalPlan.from_json(msg.data), self.worker_id)

    def _write_ui_meta(self, settings: LabSettings, options: Any) -> None:
        from lab.meta import initial_meta, write_meta  # only the UI master writes meta.json

        common = CommonOptions.from_options(options)
        meta = initial_meta(
            run_id=settings.run_id,
            profile=settings.profile,
            users=common.users or settings.users or None,
            spawn_rate=common.spawn_rate or settings.spawn_rate or None,
            duration=f"{common.run_time_s}s" if common.run_time_s else None,
            workers=len(self.runner.clients) if self.is_master else 0,
            scenario=settings.scenario or None,
            scale=None,
            target=str(self.environment.host or ""),
            mode="ui",
            command=list(sys.argv),
        )
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        write_meta(settings.run_dir, meta)
        self._ui_meta = meta

    # --- record and tracing (local, worker) -------------------------------------------------
    def on_request(self, **kwargs: Any) -> None:
        if self.recorder is not None:
            self.recorder.on_request(**kwargs)
        _transactions.note_request(**kwargs)
        if self.tracing is not None:
            self.tracing.on_request(**kwargs)

    def _flush_transactions(self) -> None:
        if self.transactions is not None:
            self.transactions.stop_timer()
            self.transactions.flush()

    def on_test_stop(self, environment: Environment, **_kwargs: Any) -> None:
        if self.settings is not None and not self.is_master:
            _arrivals.write_counts(
                self.settings.folder.worker_arrivals(self.worker_id), self.worker_id
            )
        if self.recorder is not None:
            self.recorder.stop_timer()
            self.recorder.flush()
        self._flush_transactions()
        if self.is_worker or self.load_started_at is None or self.load_stopped_at is not None:
            return
        self.load_stopped_at = time.monotonic()
        if self.web_ui:
            # The process lives on for the next test: finish this run once the workers'
            # last reports and record parts are in.
            gevent.spawn_later(WORKER_REPORT_INTERVAL + 1.0, self._finish_run, environment)

    def _write_arrival_counts(self) -> None:
        assert self.settings is not None
        path = self.settings.folder.worker_arrivals(self.worker_id)
        _arrivals.write_counts(path, self.worker_id)

    def on_report_to_master(self, client_id: str, data: dict[str, Any]) -> None:
        if self.recorder is not None:
            data["lab_record_rows"] = self.recorder.rows_written
            data["lab_run_id"] = self.recorder.run_id
        if self.tracing is not None:
            data["lab_spans_dropped"] = self.tracing.dropped_spans
        data["lab_users_gave_up"] = LabUser.gave_up
        data["lab_users_signed_in"] = LabUser.signed_in

    # --- master bookkeeping -----------------------------------------------------------------
    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        now = time.time()
        if "user_count" in data:
            gave_up = int(data.get("lab_users_gave_up", 0))
            self.workers_users[client_id] = (now, int(data["user_count"]), gave_up)
            self.workers_signed_in[client_id] = int(data.get("lab_users_signed_in", 0))
        total = data.get("stats_total") or {}
        self.workers_requests[client_id] = self.workers_requests.get(client_id, 0) + int(
            total.get("num_requests", 0)
        )
        if "lab_record_rows" in data:
            self.workers_rows[client_id] = int(data["lab_record_rows"])
        if "lab_spans_dropped" in data:
            self.workers_dropped[client_id] = int(data["lab_spans_dropped"])

    def dropped_spans_by_worker(self) -> dict[str, int]:
        if self.is_master:
            return dict(self.workers_dropped)
        return {"local": self.tracing.dropped_spans if self.tracing is not None else 0}

    def users_ready(self) -> int:
        """Users signed in or given up, all workers (the master: from their last reports)."""
        if not self.is_master:
            return LabUser.signed_in + LabUser.gave_up
        return sum(self.workers_signed_in.values()) + sum(
            gave_up for _at, _users, gave_up in self.workers_users.values()
        )

    def on_stress_step(self, index: int, verdict: StepVerdict) -> None:
        if self.events_log is not None:
            self.events_log.write("stress_step", step=index + 1, **verdict.__dict__)

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
        """Record lost workers, CPU saturation (Locust's 90 % warning) and off-plan load."""
        while True:
            try:
                self._check_health_once()
            except Exception:  # the watch must outlive any surprise; the run goes on
                logger.exception("lab health check failed")
            gevent.sleep(HEALTH_POLL_S)

    def _check_health_once(self) -> None:
        if self.events_log is None or self._finished:
            return
        runner = self.runner
        if runner.cpu_warning_emitted and self.worker_id not in self.cpu_warned:
            name = "master" if self.is_master else "local"
            self.cpu_warned.add(self.worker_id)
            self.events_log.write("cpu_warning", worker=name, cpu_percent=runner.current_cpu_usage)
        if self.is_master:
            self._check_workers()
        self._check_load_plan()
        self._check_generator_cpu()
        self._check_breach()
        self._start_arrivals_when_ready()

    def _load_running(self) -> bool:
        return self.load_started_at is not None and self.load_stopped_at is None

    def _check_generator_cpu(self) -> None:
        """Each Locust process's latest CPU reading against [generator] of the targets."""
        assert self.events_log is not None
        if self.cpu_saturation is None or not self._load_running():
            return
        now = time.monotonic()
        readings = {"master" if self.is_master else "local": self.runner.current_cpu_usage}
        if self.is_master:
            for node in list(self.runner.clients.values()):
                if node.state != STATE_MISSING:  # a missing worker's reading is stale
                    readings[node.id] = node.cpu_usage
        for process, cpu in readings.items():
            found = self.cpu_saturation.observe(process, cpu, now)
            if found is not None:
                logger.warning("%s: results are not trustworthy", found.message())
                self.events_log.write("generator_saturated", **found.detail())

    def _check_breach(self) -> None:
        """--abort-on-breach: judge the windows that are due; stop the run once it has failed."""
        if self.abort_targets is None or self.aborted is not None or not self._load_running():
            return
        now = time.monotonic()
        if self.breach_watch is None:
            if self.runner.state != STATE_RUNNING:  # users still being spawned (and signing in)
                return
            assert self.load_started_at is not None
            self.breach_watch = BreachWatch(self.abort_targets, self.load_started_at, now)
        watch = self.breach_watch
        if not watch.due(now):
            return
        found = watch.observe(now, snapshot(self.runner.stats))
        if watch.windows_judged and watch.latest:
            logger.info("abort watch: window breached: %s", breach_lines(watch.latest))
        if found is None:
            return
        assert self.events_log is not None
        self.aborted = found
        logger.error("ABORTED ON BREACH: %s", found.message())
        self.events_log.write("run_aborted", reason=ABORT_REASON_BREACH, **found.detail())
        options = self.environment.parsed_options
        # As Locust's shape worker ends a test: a headless run quits, a web UI run stops (the
        # UI stays up for the next test). In a greenlet of its own: quitting kills this one.
        gevent.spawn(self.runner.quit if getattr(options, "headless", False) else self.runner.stop)

    def _check_workers(self) -> None:
        assert self.events_log is not None
        for node in list(self.runner.clients.values()):
            if node.state == STATE_MISSING and node.id not in self.lost_workers:
                self.lost_workers.add(node.id)
                self.ever_lost.add(node.id)
                reported = self.workers_requests.get(node.id, 0)
                logger.warning(
                    "worker %s lost (no heartbeat for %d s) after reporting %d requests: "
                    "results are not trustworthy",
                    node.id,
                    self.settings.heartbeat_liveness if self.settings else 0,
                    reported,
                )
                self.events_log.write(
                    "worker_lost",
                    worker=node.id,
                    reported_requests=reported,
                    reported_record_rows=self.workers_rows.get(node.id, 0),
                )
            elif node.state != STATE_MISSING and node.id in self.lost_workers:
                self.lost_workers.discard(node.id)
                logger.warning("worker %s is back after missing its heartbeats", node.id)
                self.events_log.write("worker_returned", worker=node.id, state=node.state)
            if node.cpu_warning_emitted and node.id not in self.cpu_warned:
                self.cpu_warned.add(node.id)
                self.events_log.write("cpu_warning", worker=node.id, cpu_percent=node.cpu_usage)

    def users_running(self, since: float) -> tuple[int, int] | None:
        """(users running, users that gave up signing in) after the ramp that ended at `since`
        (time.time()), or None while a worker has not reported since then.

        Each worker's own counts (a worker Locust marked missing still runs its users); a
        worker silent for REPORT_STALE_S runs none (it died). Local runner: its own counts.
        """
        if not self.is_master:
            return int(self.runner.user_count), LabUser.gave_up
        now = time.time()
        running = gave_up = 0
        for worker in set(self.runner.clients.keys()) | set(self.workers_users):
            at, users, stopped = self.workers_users.get(worker, (0.0, 0, 0))
            if now - at > REPORT_STALE_S:
                if now - since < REPORT_STALE_S:
                    return None  # maybe slow, maybe dead: too early to say
                continue  # silent for too long: no users
            if at < since:
                return None  # its counts predate the ramp
            running += users
            gave_up += stopped
        return running, gave_up

    def planned_users(self) -> int | None:
        shape = self.environment.shape_class
        if isinstance(shape, LabShape):
            return shape.planned_users()
        target = getattr(self.runner, "target_user_count", None)
        return int(target) if target else None

    def _check_load_plan(self) -> None:
        assert self.events_log is not None
        if self.load_started_at is None or self.load_stopped_at is not None:
            return
        now = time.time()
        if self.runner.state != STATE_RUNNING:
            self._running_since = None  # a ramp: users differ from the plan on purpose
        elif self._running_since is None:
            self._running_since = now
        counts = None if self._running_since is None else self.users_running(self._running_since)
        before = self.load_plan.open
        if counts is None:
            self.load_plan.sample(now, self.planned_users(), 0, settled=False)
            self._write_closed_windows()
            return
        running, gave_up = counts
        if gave_up > self.users_gave_up:
            self.users_gave_up = gave_up
            self.events_log.write("users_gave_up", users=gave_up, reason="could not sign in")
        # A user that gave up signing in is the app's doing (its failures are counted), not
        # load the generator failed to drive.
        self.load_plan.sample(now, self.planned_users(), running + gave_up, settled=True)
        if before is None and self.load_plan.open is not None:
            window = self.load_plan.open
            logger.warning(
                "load off plan: %d users running, %d planned", window.extreme_users,
                window.planned_users,
            )  # fmt: skip
        self._write_closed_windows()

    def _write_closed_windows(self) -> None:
        assert self.events_log is not None
        while self.load_plan.closed:
            window = self.load_plan.closed.pop(0)
            self.events_log.write("load_off_plan", **window.detail())

    # --- end of run -------------------------------------------------------------------------
    def on_quitting(self, environment: Environment, **_kwargs: Any) -> None:
        if self.runner.state not in (STATE_INIT, STATE_STOPPED):
            # SIGTERM or Ctrl-C: Locust fires `quitting` before it stops the users, so stop
            # them first; else requests would go on after the record's last flush.
            self.runner.stop()
        if self.settings is not None and not self.is_master:
            _arrivals.write_counts(
                self.settings.folder.worker_arrivals(self.worker_id), self.worker_id
            )
        if self.recorder is not None:
            self.recorder.stop_timer()
            self.recorder.flush()
        self._flush_transactions()
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
        if self._health is not None:
            self._health.kill(block=False)
        if self.is_worker or self._finished or self.settings is None or self.events_log is None:
            if self.metrics_server is not None:
                self.metrics_server.stop(timeout=1)
            return
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
        if self._finished or self.settings is None or self.events_log is None:
            return
        self._finished = True
        self._check_workers_if_master()
        self.load_plan.close(time.time())
        self._write_closed_windows()
        stats = self.runner.stats.total
        expected = stats.num_requests
        rows = self._wait_for_record(expected)
        if rows < expected:
            logger.warning("per-request record has %d rows, Locust counted %d", rows, expected)
            self.events_log.write("record_incomplete", recorded=rows, locust_requests=expected)
        elif rows > expected:
            # Locust's master listens for the workers' final stats only 0.5 s after it tells
            # them to quit: on a busy machine the last report is lost, not the requests (every
            # row is a request a worker made and wrote). The record is the reference.
            logger.info(
                "record has %d rows, Locust's total %d (late final reports)", rows, expected
            )
            self.events_log.write("locust_count_short", recorded=rows, locust_requests=expected)
        for worker in sorted(self.ever_lost):
            recorded = rows_by_worker(self.settings.run_dir).get(worker, 0)
            reported = self.workers_requests.get(worker, 0)
            self.events_log.write(
                "lost_worker_record",
                worker=worker,
                reported_requests=reported,
                recorded_rows=recorded,
                not_recorded=max(0, reported - recorded),
            )
        for lost in self.parts_received.lost_parts(self.settings.run_id):
            logger.error(
                "record part %s of worker %s lost (%s): its %s rows are not in the record",
                lost["seq"], lost["worker"], lost["reason"], lost["rows"],
            )  # fmt: skip
            self.events_log.write("record_part_lost", **lost)
        dropped = sum(self.dropped_spans_by_worker().values())
        if dropped:
            self.events_log.write("spans_dropped", count=dropped)
        if self.arrival_plan is not None:
            self._judge_arrivals(self.arrival_plan)
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
        if self.aborted is not None:
            logger.error("run %s aborted on breach: %s", self.settings.run_id,
                         self.aborted.message())  # fmt: skip
        elif self.abort_targets is not None:
            judged = self.breach_watch.windows_judged if self.breach_watch else 0
            breached = self.breach_watch.windows_breached if self.breach_watch else 0
            logger.info("abort on breach: %d windows judged, %d breached, not aborted",
                        judged, breached)  # fmt: skip
        if messages or self.aborted is not None:
            code = EXIT_BREACH
        elif untrustworthy:
            code = EXIT_UNTRUSTWORTHY
        else:
            code = EXIT_OK
            logger.info("all target checks passed (%d requests in the record)", rows)
        environment.process_exit_code = code
        stopped = self.load_stopped_at or time.monotonic()
        ran_s = stopped - self.load_started_at if self.load_started_at is not None else None
        self.events_log.write(
            "run_finished",
            requests=expected,
            failures=stats.num_failures,
            record_rows=rows,
            exit_code=code,
            ran_s=None if ran_s is None else round(ran_s, 1),
            planned_s=self.planned_s,
            reported_by_worker=dict(self.workers_requests) if self.is_master else None,
            generator_cpu_peak_pct=self.cpu_saturation.highest if self.cpu_saturation else None,
        )
        if self.web_ui:
            self._finish_ui_meta()

    def _judge_arrivals(self, plan: ArrivalPlan) -> None:
        """Late arrivals (untrustworthy past the threshold) and, in stress, each rate step."""
        assert self.settings is not None
        assert self.events_log is not None
        counts = self._wait_for_arrival_counts(plan)
        judged_steps = None
        if self.settings.profile == "stress" and plan.mode == "open":
            targets = load_run_targets(self.settings.run_dir)
            steps = arrival_steps.judge_steps(self.settings.run_dir, plan, targets)
            for step in steps:
                self.events_log.write("arrival_step", **step.detail())
            held, broke = arrival_steps.breaking_point(steps)
            if broke is not None:
                judged_steps = broke.index + 1  # past the break, lateness is the app's doing
                self.on_breaking_point_rate(held, broke)
            elif held is not None:
                logger.info("no breaking point: every step held, up to %.1f tasks/s", held.rate)
        if plan.mode != "open":
            return
        late = arrival_steps.late_arrivals(counts, judged_steps)
        self.events_log.write("arrivals", **late.detail())
        logger.info(
            "arrivals: %d planned, %d started, %d late (%.2f%%)",
            late.planned, late.started, late.late, late.ratio * 100,
        )  # fmt: skip
        if late.too_many:
            logger.warning(
                "%d of %d arrivals late (> %.0f%%): not enough users or a saturated generator",
                late.late, late.planned, arrival_steps.LATE_ARRIVAL_MAX_RATIO * 100,
            )  # fmt: skip
            self.events_log.write("arrivals_late", **late.detail())

    def _wait_for_arrival_counts(self, plan: ArrivalPlan) -> list[dict[str, Any]]:
        assert self.settings is not None
        deadline = time.monotonic() + (2.0 if self.lost_workers else RECORD_WAIT_S)
        counts = arrival_steps.read_counts(self.settings.run_dir)
        while len(counts) < len(plan.workers) and time.monotonic() < deadline:
            gevent.sleep(0.2)
            counts = arrival_steps.read_counts(self.settings.run_dir)
        return counts

    def on_breaking_point_rate(
        self, held: arrival_steps.StepResult | None, broke: arrival_steps.StepResult
    ) -> None:
        assert self.events_log is not None
        logger.warning(
            "breaking point: %s at %.1f tasks/s; last step that held: %s",
            broke.broken_by,
            broke.rate,
            f"{held.rate:.1f} tasks/s ({held.requests_per_s:.1f} req/s)" if held else "none",
        )
        self.events_log.write(
            "breaking_point",
            reason=broke.broken_by,
            broke_at_rate=round(broke.rate, 2),
            held_rate=round(held.rate, 2) if held else None,
            held_rps=round(held.requests_per_s, 2) if held else None,
        )

    def _check_workers_if_master(self) -> None:
        if self.is_master and self.events_log is not None:
            self._check_workers()

    def _finish_ui_meta(self) -> None:
        """A web UI run's final status, from the same evidence `lab run` uses."""
        from lab.health import status_from_events
        from lab.meta import now_iso, write_meta

        assert self.settings is not None
        shape = self.environment.shape_class
        # The UI's stop button (or POST /stop) before the plan ran out is an interruption.
        stopped_by_user = not (isinstance(shape, LabShape) and shape.finished)
        meta = dict(getattr(self, "_ui_meta", {}))
        status = status_from_events(self.settings.events_file, interrupted=stopped_by_user)
        meta.update(ended_at=now_iso(), status=status)
        if status == STATUS_INTERRUPTED:
            meta["stopped_by"] = "web UI"
        if self.aborted is not None:
            meta["abort_reason"] = ABORT_REASON_BREACH  # as `lab run` records it
        write_meta(self.settings.run_dir, meta)
        logger.info("lab run %s: %s, results in %s", self.settings.run_id, status,
                    self.settings.run_dir)  # fmt: skip


_plugin: LabPlugin | None = None


class BeforeInit:
    """A test start, and its requests, that a worker saw before `events.init` fired.

    Locust's worker connects to its master inside `create_worker_runner`, and only then
    fires `events.init`, where the plugin is made. A master that starts the test as soon as
    this worker says it is ready (the last of `--expect-workers`, a worker joining a running
    test) sends the spawn message at once; on a busy machine the worker handles it, fires
    `test_start` and runs users before `init`: its plugin would never open the record. These
    listeners exist from import on and keep what happened until the plugin replays it.
    """

    def __init__(self) -> None:
        self.open = True  # until events.init has fired
        self.test_started = False
        self.requests: list[dict[str, Any]] = []

    def on_test_start(self, **_kwargs: Any) -> None:
        if self.open:
            self.test_started = True

    def on_request(self, **kwargs: Any) -> None:
        if self.open and self.test_started:
            self.requests.append(kwargs)

    def replay(self, plugin: LabPlugin | None) -> None:
        """Close the buffer; hand its test start and requests to the plugin, if any."""
        self.open = False
        started, requests, self.requests = self.test_started, self.requests, []
        if plugin is None or not started:
            return
        logger.info("lab: the test started before Locust's init; %d requests kept", len(requests))
        plugin.on_test_start(plugin.environment)
        for request in requests:
            plugin.on_request(**request)


_before_init = BeforeInit()
events.test_start.add_listener(_before_init.on_test_start)
events.request.add_listener(_before_init.on_request)


@events.init.add_listener
def _on_init(environment: Environment, runner: Any = None, **_kwargs: Any) -> None:
    global _plugin
    if runner is None or environment.parsed_options is None:
        _before_init.replay(None)
        return  # run_single_user and library use: no run folder, no checks
    install_guard(environment)  # login, target allow-list, fixed runs folder (_guard.py)
    _plugin = LabPlugin(environment)
    _plugin.configure()
    _before_init.replay(_plugin)


def plugin() -> LabPlugin | None:
    return _plugin
