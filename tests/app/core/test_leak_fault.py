"""The `leak` fault keeps each response body in a module-level memo; off, nothing is kept."""

from __future__ import annotations

from django.test import Client, override_settings

from jewelry.core import response_memo


def _kept_after(client: Client, requests: int) -> tuple[int, int]:
    """(bodies, bytes) the memo gained over `requests` inventory pages."""
    before = dict(response_memo._RENDERED)
    for _ in range(requests):
        assert client.get("/inventory/").status_code == 200
    gained = {k: v for k, v in response_memo._RENDERED.items() if k not in before}
    return len(gained), sum(len(v) for v in gained.values())


def test_leak_keeps_every_body_served(shop_client: Client) -> None:
    with override_settings(LAB_FAULTS=frozenset({"leak"})):
        bodies, size = _kept_after(shop_client, 5)
    assert bodies == 5
    assert size > 5 * 1000  # an inventory page is several KiB


def test_without_the_fault_nothing_is_kept(shop_client: Client) -> None:
    assert _kept_after(shop_client, 5) == (0, 0)
