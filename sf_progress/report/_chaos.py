"""The report of a Service Fabric Chaos run, from the journal ``sf-progress chaos watch --journal`` keeps.

One JSON line per event (``{"event": "chaos", "kind", "time", "reason", "faults"}``) after a
``chaos-journal`` header, and a last ``verdict`` line once the run stopped.  The report: the
iterations, the faults per action, each ``ValidationFailed``/``TestError`` with its reason,
and the verdict — as Markdown, JSON, JUnit XML (a case per iteration: a failure when the
cluster then failed validation), the JSON verdict, or a self-contained HTML page.
"""

from __future__ import annotations

import html
import json
import os
import stat
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import attrs

from ._bokeh import check_html
from ._verdicts import VERDICT_SCHEMA

__all__ = ["CHAOS_JOURNAL", "ChaosRunReport", "build_chaos_report", "is_chaos_journal", "render_chaos"]

CHAOS_JOURNAL = "chaos-journal"
_MAX_READ = 1 << 30
_PROBLEMS = ("ValidationFailed", "TestError")


@attrs.frozen
class ChaosRunReport:
    """What a Chaos journal says: ``status`` (``finished`` once the run stopped, else ``cut short``),
    ``verdict`` (``passed`` / ``validation failed``), the ``iterations``, ``faults`` per action, the
    ``problems`` (ValidationFailed and TestError events) and every event."""

    journal: str
    endpoint: str
    created: str
    status: str
    verdict: str
    iterations: int
    faults: Mapping[str, int]
    problems: tuple[Mapping[str, Any], ...]
    events: tuple[Mapping[str, Any], ...]


def is_chaos_journal(path: str | os.PathLike[str]) -> bool:
    """Whether *path* is a Chaos journal (a regular file whose first line says so; a FIFO is never opened).

    Args:
        path: The file.

    Returns:
        ``True`` for a journal of ``sf-progress chaos watch --journal``.
    """
    target = os.path.expanduser(path)
    try:
        if not stat.S_ISREG(os.stat(target).st_mode):
            return False
        with open(target, "rb") as file:
            first = json.loads(file.readline(1 << 16) or b"{}")
    except (OSError, ValueError):
        return False
    return isinstance(first, dict) and first.get("event") == CHAOS_JOURNAL


def build_chaos_report(path: str | os.PathLike[str]) -> ChaosRunReport:
    """Read a Chaos journal (a last line cut by a crash is ignored) into a :class:`ChaosRunReport`.

    Args:
        path: The journal.

    Returns:
        The report.

    Raises:
        ValueError: The file is not a Chaos journal.
        OSError: It cannot be read.
    """
    target = Path(os.path.expanduser(path))
    if not target.is_file() or target.stat().st_size > _MAX_READ:
        raise ValueError(f"{str(target)!r} is not a Chaos journal file")
    lines = target.read_bytes().split(b"\n")
    records = []
    for raw in lines[:-1]:  # the last piece has no newline: empty, or cut mid-write
        try:
            records.append(json.loads(raw))
        except ValueError:
            raise ValueError(f"{str(target)!r}: not a line of a Chaos journal: {raw[:80]!r}") from None
    if not records or not isinstance(records[0], dict) or records[0].get("event") != CHAOS_JOURNAL:
        raise ValueError(f"{str(target)!r} is not a Chaos journal (sf-progress chaos watch --journal)")
    events = tuple(r for r in records[1:] if isinstance(r, dict) and r.get("event") == "chaos")
    faults: Counter[str] = Counter()
    for event in events:
        faults.update(str(f.get("action") or "unparsed") for f in event.get("faults") or ())
    problems = tuple(e for e in events if e.get("kind") in _PROBLEMS)
    stopped = any(e.get("kind") == "Stopped" for e in events)
    header = records[0]
    return ChaosRunReport(
        journal=str(target),
        endpoint=str(header.get("endpoint", "")),
        created=str(header.get("created", "")),
        status="finished" if stopped else "cut short",
        verdict="validation failed" if problems else "passed",
        iterations=sum(1 for e in events if e.get("kind") == "ExecutingFaults"),
        faults=dict(sorted(faults.items())),
        problems=problems,
        events=events,
    )


def _iterations(report: ChaosRunReport) -> list[tuple[Mapping[str, Any], list[Mapping[str, Any]]]]:
    """Each iteration (its ExecutingFaults event) and the problems that came after it, before the next."""
    out: list[tuple[Mapping[str, Any], list[Mapping[str, Any]]]] = []
    for event in report.events:
        if event.get("kind") == "ExecutingFaults":
            out.append((event, []))
        elif event.get("kind") in _PROBLEMS and out:
            out[-1][1].append(event)
    return out


def _junit(report: ChaosRunReport) -> str:
    cases = []
    for n, (iteration, problems) in enumerate(_iterations(report)):
        actions = ", ".join(str(f.get("action") or "unparsed") for f in iteration.get("faults") or ())
        head = f"<testcase classname=\"chaos\" name={quoteattr(f'iteration {n}: {actions}')} time=\"0.000\""
        if not problems:
            cases.append(head + "/>")
            continue
        first = problems[0]
        element = "failure" if first.get("kind") == "ValidationFailed" else "error"
        cases.append(f"{head}><{element} type={quoteattr(str(first.get('kind')))} "
                     f"message={quoteattr(str(first.get('reason') or ''))}>"
                     f"{escape(json.dumps(list(problems)))}</{element}></testcase>")
    failures = sum(c.count("<failure") for c in cases)
    errors = sum(c.count("<error") for c in cases)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<testsuites name=\"sf-progress chaos run\" tests=\"{len(cases)}\" failures=\"{failures}\" "
            f"errors=\"{errors}\"><testsuite name=\"chaos\" tests=\"{len(cases)}\" failures=\"{failures}\" "
            f"errors=\"{errors}\" skipped=\"0\"><properties><property name=\"endpoint\" "
            f"value={quoteattr(report.endpoint)}/><property name=\"status\" value={quoteattr(report.status)}/>"
            "</properties>" + "".join(cases) + "</testsuite></testsuites>\n")


def _verdict(report: ChaosRunReport) -> dict[str, Any]:
    outcome = "interrupted" if report.status != "finished" else report.verdict
    warnings = [] if report.status == "finished" else ["the journal ends before the run's Stopped event"]
    return {
        "schema": VERDICT_SCHEMA, "outcome": outcome, "conclusive": report.status == "finished",
        "verdict": f"{report.iterations} iteration(s), {sum(report.faults.values())} fault(s): {report.verdict}",
        "status": report.status, "counts": {"iterations": report.iterations, **report.faults,
                                           "problems": len(report.problems)},
        "warnings": warnings, "journal": report.journal, "endpoint": report.endpoint,
    }


def _markdown(report: ChaosRunReport) -> str:
    lines = [f"## sf-progress Chaos run: {report.verdict}", "",
             f"- cluster: `{report.endpoint}`; journal `{report.journal}` ({report.status})",
             f"- iterations: {report.iterations}; faults: "
             + (", ".join(f"{n} {a}" for a, n in report.faults.items()) or "none"), ""]
    if report.problems:
        lines += ["| time | kind | reason |", "|---|---|---|"]
        for p in report.problems:
            reason = " ".join(str(p.get("reason") or "").split()).replace("|", "\\|").replace("<", "&lt;")
            lines.append(f"| {p.get('time')} | {p.get('kind')} | {reason} |")
    return "\n".join(lines) + "\n"


def _html(report: ChaosRunReport) -> str:
    from bokeh.embed import components
    from bokeh.models import ColumnDataSource, FactorRange, HoverTool
    from bokeh.plotting import figure
    from bokeh.resources import Resources

    from ._html import _offline

    rows: dict[str, list[Any]] = {"i": [], "action": [], "fault": []}
    for n, (iteration, _) in enumerate(_iterations(report)):
        for fault in iteration.get("faults") or ():
            rows["i"].append(n)
            rows["action"].append(str(fault.get("action") or "unparsed"))
            rows["fault"].append(json.dumps(fault))
    actions = sorted(set(rows["action"])) or ["none"]
    fig = figure(height=140 + 30 * len(actions), sizing_mode="stretch_width", y_range=FactorRange(factors=actions),
                 title="faults by iteration", x_axis_label="iteration", tools="xpan,xwheel_zoom,reset,save")
    dots = fig.scatter(x="i", y="action", size=8, source=ColumnDataSource(rows))
    for n, (_, problems) in enumerate(_iterations(report)):
        if problems:
            fig.vspan(x=[n + 0.5], line_color="#c62828", line_width=2)
    fig.add_tools(HoverTool(renderers=[dots], tooltips=[("iteration", "@i"), ("fault", "@fault")]))
    script, div = components(fig)
    table = "".join(f"<tr><td>{html.escape(str(p.get('time')))}<td>{html.escape(str(p.get('kind')))}"
                    f"<td>{html.escape(str(p.get('reason') or ''))}" for p in report.problems)
    resources = Resources(mode="inline", components=["bokeh"])
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>sf-progress Chaos run: {html.escape(report.verdict)}</title>"
            f"{_offline(resources.render_js())}</head><body><h1>sf-progress Chaos run</h1>"
            f"<p class='verdict'>{html.escape(report.verdict)} · {report.iterations} iteration(s) · "
            f"{html.escape(report.status)}</p><p>cluster <code>{html.escape(report.endpoint)}</code></p>"
            f'<h2>Faults</h2><div id="timeline">{div}</div>'
            f"<h2>Validation failures and errors ({len(report.problems)})</h2>"
            + (f"<table><tr><th>time<th>kind<th>reason{table}</table>" if table else "<p>none</p>")
            + f"{script}</body></html>")


def render_chaos(report: ChaosRunReport, fmt: str = "html") -> str:
    """Render a Chaos run's report: ``html``, ``md``, ``json``, ``junit`` or ``verdict``.

    Args:
        report: The report.
        fmt: The format.

    Returns:
        The text.

    Raises:
        ValueError: An unknown format.
        ModuleNotFoundError: ``html`` without Bokeh.
    """
    if fmt == "html":
        check_html()
        return _html(report)
    if fmt == "md":
        return _markdown(report)
    if fmt == "json":
        return json.dumps(attrs.asdict(report), indent=1)
    if fmt == "junit":
        return _junit(report)
    if fmt == "verdict":
        return json.dumps(_verdict(report)) + "\n"
    raise ValueError(f"format must be html, md, json, junit or verdict, got {fmt!r}")
