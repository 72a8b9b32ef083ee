"""Seeded accounts for users on every worker, from one ledger, through locust-plugins' Distributor.

The master (or the single process) owns the `AccountLedger` (`_credentials`); a user asks
for an account when it starts (in its own greenlet, which waits for the answer) and gives
it back when it stops. Across workers the question and the answer travel as Locust's
custom messages: `locust_plugins.distributor.Distributor` (5.0.3) does that for an
iterator that lives on the master, one Distributor per set of preferred roles, every one
drawing from the same ledger. Giving back is one more custom message (the Distributor only
hands out). Before this, each worker cycled through the accounts from `worker_index * 7`,
so two workers' users shared an account whenever the offsets met (with 6 accounts, worker 1
started on worker 0's second account).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any

import gevent
from locust.runners import WorkerRunner
from locust_plugins.distributor import Distributor

from locustfiles._credentials import (
    AccountLedger,
    Credential,
    CredentialsError,
    credentials_path,
    load_credentials,
)

__all__ = ["give_back", "prepare", "take"]

logger = logging.getLogger(__name__)

# A user waits this long for the master's answer before it fails (a master that never
# answers would otherwise hold every user of the worker forever without a word).
ACCOUNT_WAIT_S = 30.0
GIVE_BACK_MESSAGE = "_lab_accounts_give_back"


class Accounts:
    """This process's side: the ledger on a master or a single process, a client on a worker."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment
        self.runner = environment.runner
        self.is_worker = isinstance(self.runner, WorkerRunner)
        self.distributors: dict[tuple[str, ...], Distributor] = {}
        self._ledger: AccountLedger | None = None
        self._warned_shared = False
        if self.runner is not None and not self.is_worker:
            self.runner.register_message(GIVE_BACK_MESSAGE, self._on_give_back)

    # --- master or single process -----------------------------------------------------------
    def ledger(self) -> AccountLedger:
        if self._ledger is None:
            self._ledger = AccountLedger(load_credentials(credentials_path()))
        return self._ledger

    def _hand_out(self, preferred_roles: tuple[str, ...]) -> dict[str, Any]:
        try:
            ledger = self.ledger()
        except CredentialsError as exc:
            return {"error": str(exc)}  # the user raises it: one clear line, no silent hang
        credential = ledger.take(preferred_roles)
        if ledger.shared_handouts and not self._warned_shared:
            self._warned_shared = True
            logger.warning(
                "more users than seeded accounts (%d): some users now share an account "
                "(sessions and the login throttle are per account); seed a larger scale",
                len(ledger.ordered),
            )
        return dataclasses.asdict(credential)

    def _on_give_back(self, environment: Any = None, msg: Any = None, **_kwargs: Any) -> None:
        if self._ledger is not None:
            self._ledger.give_back(str(msg.data["email"]))

    # --- every process ----------------------------------------------------------------------
    def distributor(self, preferred_roles: tuple[str, ...]) -> Distributor:
        if preferred_roles not in self.distributors:
            iterator = (
                None
                if self.is_worker
                else iter(functools.partial(self._hand_out, preferred_roles), None)
            )
            name = "lab_accounts:" + ",".join(preferred_roles)
            self.distributors[preferred_roles] = Distributor(self.environment, iterator, name)
        return self.distributors[preferred_roles]

    def take(self, preferred_roles: tuple[str, ...]) -> Credential:
        timeout = CredentialsError(f"no account from the master within {ACCOUNT_WAIT_S:.0f} s")
        with gevent.Timeout(ACCOUNT_WAIT_S, timeout):
            item = next(self.distributor(preferred_roles))
        if "error" in item:
            raise CredentialsError(item["error"])
        return Credential(**item)

    def give_back(self, credential: Credential) -> None:
        if self.runner is None:
            if self._ledger is not None:
                self._ledger.give_back(credential.email)
            return
        try:  # to the master, or to this process's own listener (LocalRunner)
            self.runner.send_message(GIVE_BACK_MESSAGE, {"email": credential.email})
        except Exception:  # a stopping worker whose master is gone: nothing left to free
            logger.debug("account of %s not given back", credential.email, exc_info=True)


_accounts: Accounts | None = None


def _for(environment: Any) -> Accounts:
    global _accounts
    if _accounts is None or _accounts.environment is not environment:
        _accounts = Accounts(environment)
    return _accounts


def prepare(environment: Any, role_sets: set[tuple[str, ...]]) -> None:
    """At init: the master must listen for every set of roles before a worker asks."""
    accounts = _for(environment)
    for roles in sorted(role_sets):
        accounts.distributor(roles)


def take(environment: Any, preferred_roles: tuple[str, ...]) -> Credential:
    """An account for a starting user (waits for the master on a worker)."""
    return _for(environment).take(preferred_roles)


def give_back(environment: Any, credential: Credential) -> None:
    _for(environment).give_back(credential)
