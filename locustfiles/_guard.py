"""Every test start obeys the lab's rules, however it was started: CLI, web UI or HTTP API.

- The web UI (and its HTTP API: `POST /swarm`, `POST /user`) is behind a login, always, with
  the password in `LAB_LOCUST_WEB_PASSWORD` (.env); without one the UI does not start. The
  session cookie is `SameSite=Strict`, so a page open in the user's browser cannot start a
  test with it (Locust's own CORS setting would otherwise let any origin post a form).
- The target must pass lab/target_safety.py: loopback, a lab service, or a host named in
  `LAB_ALLOW_TARGETS` (comma-separated; `lab run --allow-target` fills it in).
- The runs folder is the one Locust started with; nothing may move it, and only the knobs in
  `SETTABLE_FROM_UI` may change from the UI (Locust would otherwise set any option it was
  sent, such as the path of its HTML report).

Checked when the test starts (the last line of defence, for every way in) and, for the web
UI, before Locust's own view sees the request (so a refused start answers 400 with the
reason). Locust 2.47's web UI: locust/web.py (`swarm`, `update_user`, `auth_required_if_enabled`),
its login hooks as in examples/web_ui_auth/basic.py of the Locust repository.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
import sys
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user
from locust.env import Environment
from locust.exception import StopTest
from locust.runners import WorkerRunner

from lab.contract import EXIT_BAD_INPUT
from lab.errors import LabError
from lab.target_safety import check_target

logger = logging.getLogger("locustfiles")

WEB_PASSWORD_ENV = "LAB_LOCUST_WEB_PASSWORD"  # noqa: S105 - a variable name
ALLOW_TARGETS_ENV = "LAB_ALLOW_TARGETS"
WEB_USER = "lab"
# Form fields of POST /swarm that may carry a new value: Locust's own run knobs and the
# lab's load-shape knobs. Any other option must keep the value Locust started with.
SETTABLE_FROM_UI = frozenset(
    {
        "user_count", "spawn_rate", "host", "user_classes", "run_time", "profile",
        "shape_class", "lab_profile", "lab_users", "lab_spawn_rate", "lab_duration",
        "lab_scenario", "lab_trace_sample_ratio", "lab_run_id",
    }
)  # fmt: skip
# Options naming files, folders or interfaces: checked again at every test start.
FIXED_AT_START = (
    "lab_runs_dir", "csv_prefix", "html_file", "json_file", "logfile",
    "lab_locust_metrics_host", "lab_locust_metrics_port",
)  # fmt: skip
# Keys of POST /user (a user class's settings) the UI may change.
USER_CLASS_SETTABLE = frozenset({"user_class_name", "tasks", "weight", "fixed_count"})
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class GuardError(ValueError):
    """A test start the lab refuses; the message says why and what to do."""


def allowed_targets(environ: Any = os.environ) -> tuple[str, ...]:
    raw = str(environ.get(ALLOW_TARGETS_ENV, ""))
    return tuple(host.strip() for host in raw.split(",") if host.strip())


def check_host(url: str | None) -> None:
    if not url:
        raise GuardError("no target host: give the app's URL (e.g. http://127.0.0.1:8000)")
    try:
        check_target(url, allowed_targets())
    except LabError as exc:
        raise GuardError(f"{exc.message} ({ALLOW_TARGETS_ENV} for Locust by hand)") from None


class StartGuard:
    """Installed once per Locust process by the plugin (locustfiles/_plugin.py)."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        options = environment.parsed_options
        self.started_with = dict(vars(options)) if options is not None else {}

    def install(self) -> None:
        environment = self.environment
        if isinstance(environment.runner, WorkerRunner):
            return  # the master decides; a worker takes its host from the master
        if environment.parsed_options is not None and environment.parsed_options.headless:
            try:
                check_host(environment.host)
            except GuardError as exc:
                sys.stderr.write(f"locustfiles: {exc}\n")
                raise SystemExit(EXIT_BAD_INPUT) from exc
        environment.events.test_start.add_listener(self.on_test_start)
        if environment.web_ui is not None:
            self._protect_web_ui(environment.web_ui)

    # --- every start --------------------------------------------------------------------------
    def check_start(self) -> None:
        environment = self.environment
        check_host(environment.host)
        for user_class in environment.user_classes:
            if getattr(user_class, "host", None):
                check_host(user_class.host)
        options = vars(environment.parsed_options) if environment.parsed_options else {}
        for key in FIXED_AT_START:
            if key in self.started_with and options.get(key) != self.started_with[key]:
                raise GuardError(f"option {key} may not change after Locust started")

    def on_test_start(self, environment: Environment, **_kwargs: Any) -> None:
        try:
            self.check_start()
        except GuardError as exc:
            logger.error("test start refused: %s", exc)
            raise StopTest(str(exc)) from exc

    # --- web UI -------------------------------------------------------------------------------
    def _protect_web_ui(self, web_ui: Any) -> None:
        password = os.environ.get(WEB_PASSWORD_ENV, "")
        if not password:
            sys.stderr.write(
                f"locustfiles: the web UI needs a login: set {WEB_PASSWORD_ENV} "
                "(make lab-up generates one in .env) or run headless\n"
            )
            raise SystemExit(EXIT_BAD_INPUT)
        app = web_ui.app
        app.config["SECRET_KEY"] = secrets.token_hex(32)
        app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
        app.config["SESSION_COOKIE_HTTPONLY"] = True
        if not web_ui.web_login:  # started without --web-login: the login is not optional
            manager = LoginManager()
            manager.init_app(app)
            manager.login_view = "locust.login"
            web_ui.login_manager = manager
            web_ui.web_login = True
        web_ui.login_manager.user_loader(_load_user)
        base = self.environment.parsed_options.web_base_path or ""
        web_ui.auth_args = {"username_password_callback": f"{base}/lab-login"}
        blueprint = Blueprint("lab_auth", __name__, url_prefix=base or None)

        @blueprint.route("/lab-login", methods=["POST"])
        def lab_login() -> Response:
            given = request.form.get("password", "")
            if request.form.get("username") == WEB_USER and hmac.compare_digest(
                given.encode(), password.encode()
            ):
                login_user(_LabUser())
                return redirect(url_for("locust.index"))
            session["auth_error"] = f"Wrong user or password (user {WEB_USER}, {WEB_PASSWORD_ENV})"
            return redirect(url_for("locust.login"))

        app.register_blueprint(blueprint)
        app.before_request(self._check_web_request)

    def _check_web_request(self) -> Response | None:
        if request.method != "POST" or not current_user.is_authenticated:
            return None  # the login comes first (Locust's views redirect to it)
        path = request.path.rstrip("/")
        try:
            if path.endswith("/swarm"):
                self._check_swarm_form(request.form)
            elif path.endswith("/user"):
                settings = request.get_json(force=True, silent=True) or {}
                changed = sorted(set(settings) - USER_CLASS_SETTABLE)
                if changed:
                    raise GuardError(f"user class settings {changed} may not change from the UI")
        except GuardError as exc:
            logger.error("web UI request refused: %s", exc)
            return _refusal(str(exc))
        return None

    def _check_swarm_form(self, form: Any) -> None:
        if "host" in form:
            check_host(str(form["host"]))
        run_id = form.get("lab_run_id")
        if run_id and not _RUN_ID.fullmatch(run_id):
            raise GuardError(f"run id {run_id!r} must be letters, digits, '-', '_' or '.'")
        for key in form:
            if key in SETTABLE_FROM_UI or key not in self.started_with:
                continue
            if not _same_value(str(form[key]), self.started_with[key]):
                raise GuardError(f"option {key} may not change from the web UI")


def _same_value(sent: str, current: Any) -> bool:
    """Does a form field (a string) carry the option's current value? The UI echoes them all."""
    if isinstance(current, bool):
        return sent.strip().lower() == ("true" if current else "false")
    if current is None:
        return sent.strip() in ("", "None")
    if isinstance(current, int | float):
        try:
            return float(sent) == float(current)
        except ValueError:
            return False
    if isinstance(current, list):
        return sent.split(",") == [str(item) for item in current] or sent == str(current)
    return sent == str(current)


class _LabUser(UserMixin):
    def get_id(self) -> str:
        return WEB_USER


def _load_user(user_id: str) -> _LabUser | None:
    return _LabUser() if user_id == WEB_USER else None


def _refusal(message: str) -> Response:
    response = jsonify({"success": False, "message": message, "host": None})
    response.status_code = 400
    return response


def install_guard(environment: Environment) -> StartGuard:
    guard = StartGuard(environment)
    guard.install()
    return guard


__all__ = ["GuardError", "StartGuard", "check_host", "install_guard"]
