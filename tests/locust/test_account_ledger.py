"""The master's account ledger, in-process (no Locust): who gets which seeded account.

Real runs, single process and master + 2 workers: tests/locust/test_accounts_across_workers.py.
"""

from __future__ import annotations

from lab.contract import Credential
from locustfiles._credentials import AccountLedger


def _accounts(tenants: int, per_tenant: int, role: str = "cashier") -> list[Credential]:
    return [
        Credential(t, f"shop{t}", f"{role}{i}@shop{t}.test", "pw", role)
        for t in range(1, tenants + 1)
        for i in range(per_tenant)
    ]


def test_no_account_is_handed_out_twice_while_a_free_one_is_left() -> None:
    ledger = AccountLedger(_accounts(3, 2))
    taken = [ledger.take() for _ in range(6)]
    assert len({c.email for c in taken}) == 6
    assert ledger.shared_handouts == 0
    # Interleaved by tenant: consecutive users sit in different shops.
    assert [c.tenant_id for c in taken[:3]] == [1, 2, 3]
    seventh = ledger.take()  # every account held: now, and only now, one is shared
    assert ledger.shared_handouts == 1
    assert ledger.held[seventh.email] == 2


def test_an_account_given_back_is_the_next_one_handed_out_when_all_others_are_held() -> None:
    ledger = AccountLedger(_accounts(2, 2))
    taken = [ledger.take() for _ in range(4)]
    ledger.give_back(taken[1].email)
    again = ledger.take()
    assert again.email == taken[1].email
    assert ledger.shared_handouts == 0
    assert ledger.users_holding == 4


def test_preferred_roles_first_and_never_shared_with_other_users_while_free() -> None:
    owners = _accounts(2, 1, role="owner")
    cashiers = _accounts(2, 2)
    ledger = AccountLedger(owners + cashiers)
    reporting = [ledger.take(("owner", "manager")) for _ in range(2)]
    assert {c.role for c in reporting} == {"owner"}
    others = [ledger.take() for _ in range(4)]  # users without a preference: the free ones
    held = [c.email for c in reporting + others]
    assert len(set(held)) == 6
    assert {c.role for c in others} == {"cashier"}
    # A role nobody has: any account, still the least held.
    assert ledger.take(("auditor",)).email in held
    assert ledger.shared_handouts == 1


def test_giving_back_more_than_was_taken_never_goes_negative() -> None:
    ledger = AccountLedger(_accounts(1, 1))
    account = ledger.take()
    ledger.give_back(account.email)
    ledger.give_back(account.email)
    assert ledger.users_holding == 0
    assert ledger.take().email == account.email
    assert ledger.shared_handouts == 0
