"""Static assets as WhiteNoise serves them: hashed, compressed, cached; and the planted fault.

The pages name their assets through collectstatic's manifest (the harness runs it), so these
fetch exactly the URLs a browser would and check the headers it would get.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client, override_settings

from tests.app.factories import Shop

ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')
HASHED = re.compile(r"\.[0-9a-f]{12}\.(?:css|js|svg)$")
YEAR_S = 365 * 24 * 3600


def assets_of(client: Client, path: str) -> list[str]:
    response = client.get(path)
    assert response.status_code == 200
    return ASSET.findall(response.content.decode())


def body_of(response: Any) -> bytes:  # WhiteNoise answers with a streaming response
    return b"".join(response.streaming_content) if response.streaming else response.content


def max_age(cache_control: str) -> int:
    match = re.search(r"max-age=(\d+)", cache_control)
    return int(match.group(1)) if match else 0


def test_pages_name_hashed_assets_and_lazy_thumbnails(shop_client: Client, shop: Shop) -> None:
    pos = assets_of(shop_client, "/pos/")
    assert any(url.startswith("/static/core/app.") for url in pos)
    assert any(url.startswith("/static/sales/pos.") for url in pos)
    inventory = shop_client.get("/inventory/").content.decode()
    thumbs = re.findall(r"<img [^>]*>", inventory)
    assert thumbs, "the inventory list shows product thumbnails"
    assert all('loading="lazy"' in tag for tag in thumbs)
    for url in pos + ASSET.findall(inventory):
        assert HASHED.search(url), f"{url} has no content hash in its name"


@pytest.mark.parametrize(("accept", "encoding"), [("gzip", "gzip"), ("br, gzip", "br")])
def test_assets_are_compressed_and_cached_for_a_year(
    shop_client: Client, accept: str, encoding: str
) -> None:
    for url in assets_of(shop_client, "/pos/"):
        response = Client().get(url, headers={"accept-encoding": accept})
        assert response.status_code == 200, url
        assert response["Content-Encoding"] == encoding, url
        assert "immutable" in response["Cache-Control"], url
        assert max_age(response["Cache-Control"]) >= YEAR_S, url
        plain = body_of(Client().get(url))
        assert len(body_of(response)) < len(plain), f"{url}: compressed copy is not smaller"


def test_assets_are_public_and_hold_no_shop_data(shop_client: Client) -> None:
    """Served before sessions and tenancy: a signed-out client gets the same bytes."""
    for url in assets_of(shop_client, "/pos/"):
        signed_in, anonymous = shop_client.get(url), Client().get(url)
        assert anonymous.status_code == 200
        assert body_of(anonymous) == body_of(signed_in)
        assert "Set-Cookie" not in anonymous


def test_assets_uncached_fault_drops_compression_and_cache_headers(shop_client: Client) -> None:
    urls = assets_of(shop_client, "/pos/")
    with override_settings(LAB_FAULTS=frozenset({"assets_uncached"})):
        faulty = Client()  # a new client builds the middleware chain with the fault on
        for url in urls:
            response = faulty.get(url, headers={"accept-encoding": "br, gzip"})
            assert response.status_code == 200, url
            assert "Content-Encoding" not in response, url
            for header in ("Cache-Control", "ETag", "Last-Modified", "Expires"):
                assert header not in response, f"{url}: {header} with the fault on"
            assert body_of(response) == body_of(Client().get(url))
