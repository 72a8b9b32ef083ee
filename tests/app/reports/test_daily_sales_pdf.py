"""GET /reports/daily-sales/pdf/: a real PDF (reportlab) carrying the day's totals."""

from __future__ import annotations

import base64
import re
import zlib

from django.test import Client

from tests.app.factories import Shop
from tests.app.reports import expected
from tests.app.reports.conftest import DAY, History, at

STREAM = re.compile(rb"stream\r?\n(.*?)endstream", re.DOTALL)


def pdf_text(content: bytes) -> str:
    """The page content streams, inflated: enough to find the strings drawn on the page."""
    parts = []
    for raw in STREAM.findall(content):
        data = raw.strip()
        if data.endswith(b"~>"):  # reportlab's default filters: ASCII85 over Flate
            data = base64.a85decode(data, adobe=True)
        try:
            parts.append(zlib.decompress(data))
        except zlib.error:
            parts.append(data)  # an uncompressed stream
    text = b"\n".join(parts).decode("latin-1")
    # reportlab may draw one line as several adjacent strings: "(Gold & <) Tj (Silver) Tj".
    return re.sub(r"\)\s*Tj\s*\(", "", text)


def test_daily_sales_pdf_is_a_pdf_with_the_days_totals(
    shop_client: Client, history: History
) -> None:
    sales = expected.within(history.sales, at(DAY, 0), at(DAY.replace(day=11), 0))

    response = shop_client.get(f"/reports/daily-sales/pdf/?date={DAY}")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f"daily-sales-{DAY}.pdf" in response["Content-Disposition"]
    content = response.content
    assert content.startswith(b"%PDF-")
    assert content.rstrip().endswith(b"%%EOF")
    text = pdf_text(content)
    assert str(expected.revenue(sales)) == "5190.50"
    assert "(5190.50)" in text
    assert f"({len(sales)})" in text  # the number of sales
    assert f"({expected.units(sales)})" in text
    assert history.items[3].sku in text  # best seller of the day
    assert "Golden Hour Jewels: Daily sales 2024-03-10" in text
    assert "77777" not in text  # the other shop's sale that day


def test_pdf_of_a_day_without_sales(shop_client: Client, shop: Shop) -> None:
    response = shop_client.get("/reports/daily-sales/pdf/?date=2020-01-01")
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF-")
    text = pdf_text(response.content)
    assert "(0.00)" in text
    assert "no sales this day" in text


def test_markup_in_the_shop_name_is_drawn_not_parsed(shop_client: Client, shop: Shop) -> None:
    shop.tenant.name = "Gold & <Silver> Co"
    shop.tenant.save()
    response = shop_client.get("/reports/daily-sales/pdf/?date=2020-01-01")
    assert response.status_code == 200
    assert "Gold & <Silver> Co: Daily sales 2020-01-01" in pdf_text(response.content)
