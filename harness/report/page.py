"""One self-contained HTML page: the report, a comparison, a history.

Everything the page needs is inside it: uPlot (MIT, vendored unmodified in
``assets/``, version in its first line), our chart renderer and stylesheet, and
the data as one JSON document. Nothing is fetched, so the file opens on an
air-gapped laptop, as a CI artifact, or attached to a ticket; the browser tests
check that no request leaves the page.

Why uPlot: it is small (51 kB minified), maintained, dependency-free, and draws
canvas line charts of hundreds of thousands of points in milliseconds, so a
2-hour soak's 7,200-second timeline stays interactive (zoom by dragging, values
under the cursor, synchronised cursors across the timeline charts); it has log
scales, which HdrHistogram's percentile plot needs. SVG drawn in Python would
need no script, but would be heavier for long timelines and not interactive.

Tables, the codes' bars and the plan are rendered here in Python (plain HTML);
the script only draws the charts.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson

ASSETS = resources.files("harness.report") / "assets"


def asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def embedded_json(data: Any) -> str:
    """JSON safe inside a <script> element: no "</" can close it early."""
    return orjson.dumps(data).decode().replace("</", "<\\/")


@dataclass
class Charts:
    """Columns and chart specs a page's script draws (see assets/charts.js)."""

    columns: dict[str, list[Any]] = field(default_factory=dict)
    specs: list[dict[str, Any]] = field(default_factory=list)

    def column(self, name: str, values: list[Any]) -> str:
        self.columns[name] = values
        return name

    def add(self, chart_id: str, kind: str, title: str, x: str, series: list[dict[str, Any]],
            axes: list[dict[str, Any]] | None = None, **extra: Any) -> str:
        """Add a chart; returns the element that holds it."""
        spec = {"id": chart_id, "kind": kind, "title": title, "x": x, "series": series} | extra
        if axes:
            spec["axes"] = axes
        self.specs.append(spec)
        return f'<div class="chart" id="{esc(chart_id)}"></div>'

    def document(self) -> dict[str, Any]:
        return {"columns": self.columns, "charts": self.specs}


def page(title: str, body: str, charts: Charts | None = None) -> str:
    data = embedded_json((charts or Charts()).document())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>{esc(title)}</title>
<style>{asset("uPlot.min.css")}</style>
<style>{asset("report.css")}</style>
</head>
<body>
{body}
<script id="report-data" type="application/json">{data}</script>
<script>{asset("uPlot.iife.min.js")}</script>
<script>{asset("charts.js")}</script>
</body>
</html>
"""


def table(head: list[str], rows: list[list[Any]], *, classes: list[str] | None = None,
          row_classes: list[str] | None = None) -> str:
    """A table; cells are HTML already escaped by the caller (use ``esc``)."""
    cls = classes or [""] * len(head)
    out = ["<table><thead><tr>"]
    out += [f'<th class="{c}">{h}</th>' for h, c in zip(head, cls, strict=True)]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(rows):
        rc = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        out.append(f"<tr{rc}>" + "".join(f'<td class="{c}">{v}</td>' for v, c in zip(row, cls, strict=True))
                   + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.3g}" if value < 100 else f"{value:,.0f}"


def pct(value: float | None) -> str:
    if value is None:
        return "–"
    p = value * 100
    return "0%" if p == 0 else (f"{p:.3g}%" if p < 100 else f"{p:.1f}%")
