"""The daily sales report as a PDF, drawn with reportlab's platypus layout engine."""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

_TABLE_STYLE = TableStyle(
    [
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#2b2340")),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.grey),
        ("FONTSIZE", (0, 0), (-1, -1), 9),
    ]
)


def _table(header: list[str], rows: list[list[Any]]) -> Table:
    table = Table([header, *[[str(cell) for cell in row] for row in rows]], hAlign="LEFT")
    table.setStyle(_TABLE_STYLE)
    return table


def daily_sales_pdf(report: dict[str, Any], *, shop_name: str, currency: str) -> bytes:
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    title = f"Daily sales {report['date']}"
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"{title} - {shop_name}",
        author=shop_name,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
    )
    story: list[Any] = [
        Paragraph(escape(f"{shop_name}: {title}"), styles["Title"]),
        _table(
            ["Figure", "Value"],
            [
                ["Sales", report["sales_count"]],
                [f"Revenue ({currency})", report["revenue"]],
                [f"Average sale ({currency})", report["average_sale"]],
                ["Units sold", report["units_sold"]],
                ["Distinct customers", report["customers"]],
                ["Loyalty points awarded", report["loyalty_points"]],
            ],
        ),
        Spacer(1, 6 * mm),
        Paragraph("Payments by method", styles["Heading2"]),
        _table(
            ["Method", "Payments", f"Amount ({currency})"],
            [[p["method"], p["count"], p["amount"]] for p in report["payments"]]
            or [["none", 0, "0.00"]],
        ),
        Spacer(1, 6 * mm),
        Paragraph("Top items", styles["Heading2"]),
        _table(
            ["SKU", "Item", "Units", f"Revenue ({currency})"],
            [[i["sku"], i["name"][:60], i["units"], i["revenue"]] for i in report["top_items"]]
            or [["-", "no sales this day", 0, "0.00"]],
        ),
        Spacer(1, 6 * mm),
        Paragraph(f"Generated {report['generated_at']:%Y-%m-%d %H:%M:%S %Z}", styles["Normal"]),
    ]
    doc.build(story)
    return buffer.getvalue()
