"""The report as one self-contained HTML page, drawn with Bokeh (the ``report`` extra).

Why Bokeh: it writes a page that works offline with its JavaScript inlined (its core is
1.3 MB, against Plotly's 4.5 MB, so a 10,000-target report stays under 5 MB), its charts are
interactive (hover for each target, zoom along the timeline), and it is one pure-Python
dependency (numpy aside) — no browser engine, no server.  Tables are plain HTML (a few
lines of inline script sort them), so the page also prints.
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter
from typing import Any

from bokeh.embed import components
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, Range1d
from bokeh.models.annotations import BoxAnnotation
from bokeh.plotting import figure
from bokeh.resources import Resources
from bokeh.transform import factor_cmap

from ._model import Report, ReportTarget
from ._scenario import scenario_html

__all__ = ["render_html"]

COLORS = {
    "completed": "#2e7d32",
    "faulted": "#c62828",
    "cancelled": "#ef6c00",
    "not_found": "#8e24aa",
    "timed_out": "#6d0000",
    "failed": "#212121",
    "pending": "#9e9e9e",
    "start not confirmed": "#bdbdbd",
    "not started": "#e0e0e0",
}
#: Beyond this many targets the page aggregates (a 178,000-target page of bars and rows weighed
#: 60 MB, and a headless browser could not draw it in 120 s): the timeline shows faults per kind
#: and time bucket, the table of all targets is left out, and the page says so.
MAX_DRAWN = 5_000
#: The most rows of the "did not complete" table (the JSON report holds every target).
MAX_PROBLEM_ROWS = 1_000
_BUCKETS = 300
_RECOVERY_COLOR = "#81c784"
_UNSEEN_COLOR = "#cfd8dc"  # the part of a fault when no client watched: it ended somewhere in it
#: Only BokehJS's core, inlined (1.3 MB): the page needs no widgets, tables, WebGL or MathJax.
_RESOURCES = Resources(mode="inline", components=["bokeh"])
#: BokehJS would load MathJax from a CDN if a label held TeX (ours never do): that address is
#: taken out, so the page cannot reach the network at all.
_CDN = re.compile(r"""(["'])https?://cdn\.[^"']*\1""")
_SORT = """
document.querySelectorAll("table.sortable th").forEach(function (th, i) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0], rows = Array.from(body.rows), up = th.dataset.up !== "1";
    rows.sort(function (a, b) {
      var x = a.cells[i].textContent, y = b.cells[i].textContent, nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return up ? c : -c;
    });
    th.dataset.up = up ? "1" : "0";
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""
_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #212121; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; } td, th { border: 1px solid #ddd; padding: 2px 6px; }
th { background: #f5f5f5; cursor: pointer; } .verdict { font-size: 1.15em; font-weight: 600; }
.bad { color: #c62828; } .ok { color: #2e7d32; } .note { color: #6d4c41; }
@media print { th { cursor: auto; } .bk-root { page-break-inside: avoid; } }
"""


def _seconds(t: ReportTarget) -> str:
    """A target's time to its end as shown: ``12.3``, or ``2.0–65.0`` when its end was not seen."""
    if t.elapsed_bounds is not None:
        return f"{t.elapsed_bounds[0]:.1f}–{t.elapsed_bounds[1]:.1f}"
    return "" if t.elapsed is None else f"{t.elapsed:.1f}"


def _bars(report: Report) -> dict[str, list[Any]]:
    """One bar per target: the fault (solid) to its end, where its end was not seen (pale), then recovery."""
    t0 = report.started_at or 0.0
    end = (report.ended_at or t0) - t0
    order = sorted(
        (t for t in report.targets if t.started_at is not None),
        key=lambda t: (t.kind, t.started_at or 0.0, t.number),
    )
    data: dict[str, list[Any]] = {k: [] for k in ("y", "left", "right", "seen", "back", "target", "op", "outcome",
                                                 "kind", "seconds", "recovery")}
    for row, t in enumerate(order):
        start = (t.started_at or t0) - t0
        finish = end if t.ended_at is None else t.ended_at - t0
        fault_end = finish - (t.recovery_s or 0.0) if t.recovered is not None else finish
        solid = fault_end if t.elapsed_bounds is None else start + t.elapsed_bounds[0]
        # Rounded: 10 ms is finer than a chart shows, and it keeps a 10,000-target page small.
        data["y"].append(row)
        data["left"].append(round(start, 2))
        data["right"].append(round(max(start, solid), 2))
        data["seen"].append(round(max(start, fault_end), 2))
        data["back"].append(round(max(start, finish), 2))
        data["target"].append(t.target)
        data["op"].append(t.operation_id)
        data["outcome"].append(t.outcome if t.recovered is not False else "completed, not recovered")
        data["kind"].append(t.kind)
        data["seconds"].append(_seconds(t))
        data["recovery"].append(math.nan if t.recovery_s is None else round(t.recovery_s, 1))
    return data


def _timeline(report: Report) -> Any:
    if len(report.targets) > MAX_DRAWN:
        return _timeline_by_kind(report)
    data = _bars(report)
    rows = max(1, len(data["y"]))
    fig = figure(
        height=min(900, 120 + 3 * rows), sizing_mode="stretch_width", title="timeline (one bar per target)",
        x_axis_label="seconds from the first start", tools="xpan,xwheel_zoom,box_zoom,reset,save",
        y_range=Range1d(start=rows, end=-1),
    )
    source = ColumnDataSource(data)
    outcomes = sorted(set(data["outcome"])) or ["completed"]
    color = factor_cmap("outcome", [COLORS.get(o.split(",")[0], "#607d8b") for o in outcomes], outcomes)
    bars = fig.hbar(y="y", left="left", right="right", height=0.8, color=color, source=source)
    fig.hbar(y="y", left="right", right="seen", height=0.8, color=_UNSEEN_COLOR, source=source)
    fig.hbar(y="y", left="seen", right="back", height=0.8, color=_RECOVERY_COLOR, alpha=0.7, source=source)
    t0 = report.started_at or 0.0
    for gap in report.downtimes:  # no client watched the run then: shaded, so no bar reads as observed there
        fig.add_layout(BoxAnnotation(left=(gap.since or gap.until) - t0, right=gap.until - t0,
                                     fill_color="#9e9e9e", fill_alpha=0.15))
    fig.add_tools(HoverTool(renderers=[bars], tooltips=[
        ("target", "@target"), ("operation", "@op"), ("kind", "@kind"), ("outcome", "@outcome"),
        ("seconds to end", "@seconds"), ("recovery s", "@recovery{0.0}"),
    ]))
    fig.yaxis.visible = False
    return fig


def _timeline_by_kind(report: Report) -> Any:
    """The timeline of a large run: per kind, how many of its faults were active in each time bucket."""
    t0 = report.started_at or 0.0
    span = max((report.ended_at or t0) - t0, 1e-3)
    width = span / _BUCKETS
    kinds = sorted({t.kind for t in report.targets})
    active = {kind: [0] * (_BUCKETS + 1) for kind in kinds}  # a difference array per kind
    bad = {kind: [0] * _BUCKETS for kind in kinds}
    for t in report.targets:
        if t.started_at is None:
            continue
        first = min(_BUCKETS - 1, int((t.started_at - t0) / width))
        last = min(_BUCKETS - 1, int(((t.ended_at or report.ended_at or t.started_at) - t0) / width))
        active[t.kind][first] += 1
        active[t.kind][max(first, last) + 1] -= 1
        if t.ended_at is not None and (t.outcome != "completed" or t.recovered is False):
            bad[t.kind][last] += 1
    data: dict[str, list[Any]] = {k: [] for k in ("x", "kind", "active", "bad", "alpha", "color", "span")}
    for kind in kinds:
        running = 0
        for bucket in range(_BUCKETS):
            running += active[kind][bucket]
            if not running and not bad[kind][bucket]:
                continue
            data["x"].append(round((bucket + 0.5) * width, 2))
            data["kind"].append(kind)
            data["active"].append(running)
            data["bad"].append(bad[kind][bucket])
            data["color"].append(COLORS["faulted"] if bad[kind][bucket] else "#1565c0")
            data["span"].append(f"{bucket * width:.0f}–{(bucket + 1) * width:.0f} s")
    peak = max(data["active"], default=1) or 1
    data["alpha"] = [0.15 + 0.85 * a / peak for a in data["active"]]
    fig = figure(
        height=120 + 40 * len(kinds), sizing_mode="stretch_width", y_range=FactorRange(factors=kinds or ["-"]),
        title=f"timeline: faults active per kind and time bucket ({len(report.targets):,} targets: beyond "
              f"{MAX_DRAWN:,} the page draws no bar per target)",
        x_axis_label="seconds from the first start", tools="xpan,xwheel_zoom,box_zoom,reset,save",
    )
    cells = fig.rect(x="x", y="kind", width=width, height=0.9, fill_color="color", fill_alpha="alpha",
                     line_color=None, source=ColumnDataSource(data))
    for gap in report.downtimes:
        fig.add_layout(BoxAnnotation(left=(gap.since or gap.until) - t0, right=gap.until - t0,
                                     fill_color="#9e9e9e", fill_alpha=0.15))
    fig.add_tools(HoverTool(renderers=[cells], tooltips=[
        ("kind", "@kind"), ("time", "@span"), ("faults active", "@active"), ("ended badly here", "@bad"),
    ]))
    return fig


def _histograms(report: Report, recovery: bool) -> Any:
    fig = figure(height=260, sizing_mode="stretch_width", tools="save,reset",
                 title="time to recover (s)" if recovery else "fault durations by kind (s)", x_axis_label="seconds")
    palette = ["#1565c0", "#c62828", "#ef6c00", "#6a1b9a"]
    for index, kind in enumerate(sorted({t.kind for t in report.targets})):
        picked = [
            (t.recovery_s if recovery else t.elapsed)
            for t in report.targets
            if t.kind == kind and (t.recovered if recovery else t.elapsed is not None)
        ]
        values = [v for v in picked if v is not None]
        if not values:
            continue
        low, high = min(values), max(values)
        width = max((high - low) / 30, 0.1)
        counts = Counter(int((v - low) / width) for v in values)
        edges = sorted(counts)
        fig.quad(top=[counts[e] for e in edges], bottom=0, left=[low + e * width for e in edges],
                 right=[low + (e + 1) * width for e in edges], alpha=0.5, color=palette[index % 4], legend_label=kind)
    if fig.legend:
        fig.legend.location = "top_right"
    return fig


def _concurrency(report: Report) -> Any:
    t0 = report.started_at or 0.0
    edges = []
    for t in report.targets:
        if t.started_at is not None:
            edges.append((t.started_at - t0, 1))
            edges.append(((t.ended_at or report.ended_at or t.started_at) - t0, -1))
    edges.sort()
    xs, ys, active = [0.0], [0], 0
    step = max((edges[-1][0] if edges else 0.0) / 2000, 1e-9)  # at most ~2,000 points: a chart, not a log
    for x, delta in edges:
        active += delta
        if xs and x - xs[-1] < step and len(xs) > 1:
            ys[-1] = max(ys[-1], active) if delta > 0 else active
            continue
        xs.append(round(x, 2))
        ys.append(active)
    fig = figure(height=220, sizing_mode="stretch_width", tools="xpan,xwheel_zoom,reset,save",
                 title="faults active (started, not yet ended)", x_axis_label="seconds from the first start")
    fig.step(xs, ys, mode="after", line_width=2)
    return fig


def _table(rows: list[ReportTarget], *, failures: bool) -> str:
    head = ["#", "kind", "target", "operation", "outcome", "error code", "seconds to end", "recovery s"]
    if failures:
        head.append("error")
    out = ['<table class="sortable"><thead><tr>' + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for t in rows:
        outcome = t.outcome if t.recovered is not False else "completed, not recovered"
        cells = [t.number, t.kind, t.target, t.operation_id, outcome,
                 t.code, _seconds(t),
                 "" if t.recovery_s is None else f"{t.recovery_s:.1f}"]
        if failures:
            cells.append(t.why)
        out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}" for c in cells))
    out.append("</tbody></table>")
    return "".join(out)


def _offline(js: str) -> str:
    return _CDN.sub('""', js)


def render_html(report: Report) -> str:
    """The self-contained page: header and verdict, timeline, durations, concurrency, failures, all targets."""
    charts: dict[str, Any] = {"timeline": _timeline(report), "durations": _histograms(report, False),
                              "concurrency": _concurrency(report)}
    if report.recovery is not None and report.recovery.get("recovered"):
        charts["recovery"] = _histograms(report, True)
    script, divs = components(charts)
    kinds = ", ".join(f"{sum(c.values())} {kind}" for kind, c in report.counts.items())
    span = "-"
    if report.started_at is not None and report.ended_at is not None:
        span = f"{report.ended_at - report.started_at:.0f} s"
    problems = report.problems
    verdict_class = "ok" if not problems and report.status == "finished" else "bad"
    said = list(report.notices)
    if len(report.targets) > MAX_DRAWN:
        said.append(f"{len(report.targets):,} targets: beyond {MAX_DRAWN:,} this page aggregates (the timeline by kind "
                    "and time bucket, no table of all targets); the JSON report (-o json) holds every target")
    notices = "".join(f'<p class="note">{html.escape(n)}</p>' for n in said)
    sections = [
        f"<h1>sf-progress run report</h1><p class='verdict {verdict_class}'>{html.escape(report.verdict)}</p>",
        f"<p>cluster <code>{html.escape(report.endpoint)}</code> · created {html.escape(report.created)} · "
        f"{html.escape(report.status)} · {span} · {len(report.targets)} targets ({html.escape(kinds)})<br>"
        f"journal <code>{html.escape(report.journal)}</code></p>{notices}",
        *([scenario_html(report.scenario)] if report.scenario is not None else []),
        f'<h2>Timeline</h2><div id="timeline">{divs["timeline"]}</div>',
        f'<h2>Durations</h2><div id="durations">{divs["durations"]}</div>',
    ]
    if "recovery" in divs:
        sections.append(f'<h2>Recovery</h2><div id="recovery">{divs["recovery"]}</div>')
    sections.append(f'<h2>Concurrency</h2><div id="concurrency">{divs["concurrency"]}</div>')
    shown = list(problems[:MAX_PROBLEM_ROWS])
    sections.append(f"<h2>Did not complete ({len(problems)})</h2>"
                    + (_table(shown, failures=True) if problems else "<p>none</p>"))
    if len(problems) > len(shown):
        sections.append(f"<p class='note'>the first {len(shown):,} of {len(problems):,} are listed: "
                        "<code>sf-progress report JOURNAL -o json</code> holds every target</p>")
    if len(report.targets) <= MAX_DRAWN:
        sections.append(f"<h2>All targets ({len(report.targets)})</h2>" + _table(list(report.targets), failures=False))
    else:
        sections.append(f"<h2>All targets ({len(report.targets):,})</h2><p class='note'>not listed beyond "
                        f"{MAX_DRAWN:,} targets (the page would not open): <code>sf-progress report JOURNAL -o json"
                        "</code> holds every target</p>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>sf-progress report: {html.escape(report.verdict)}</title>"
        f"<style>{_CSS}</style>{_offline(_RESOURCES.render_js())}{_RESOURCES.render_css()}</head><body>"
        + "".join(sections)
        + f"{script}<script>{_SORT}</script></body></html>"
    )
