"""A campaign at a glance: ``build_report(journal)`` → a typed :class:`Report`, as HTML, Markdown, JSON,
JUnit XML or one JSON verdict.

Works on a finished journal, on one still being written (a snapshot of where it stands;
nothing is changed, the lock only tried), and on one cut by a crash (what it knows, said plainly).
``render_markdown``, ``render_json``, ``render_junit`` and ``render_verdict`` need nothing
more; the HTML page needs the ``report`` extra (Bokeh, for the interactive, self-contained
charts).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs

from ._bokeh import check_html
from ._chaos import ChaosRunReport, build_chaos_report, is_chaos_journal, render_chaos
from ._model import Report, ReportTarget, build_report
from ._scenario import scenario_markdown
from ._verdicts import render_junit, render_verdict, verdict

__all__ = [
    "FORMATS",
    "ChaosRunReport",
    "Report",
    "ReportTarget",
    "build_chaos_report",
    "build_report",
    "check_html",
    "is_chaos_journal",
    "render",
    "render_chaos",
    "render_json",
    "render_junit",
    "render_markdown",
    "render_verdict",
    "verdict",
    "write_report",
]

#: Every report format and the file suffix it is written with by default.
FORMATS = {"html": ".html", "md": ".md", "json": ".json", "junit": ".junit.xml", "verdict": ".verdict.json"}



def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON-able data (``render_json`` dumps it)."""
    return {
        "journal": report.journal,
        "endpoint": report.endpoint,
        "created": report.created,
        "status": report.status,
        "verdict": report.verdict,
        "started_at": report.started_at,
        "ended_at": report.ended_at,
        "counts": report.counts,
        "durations": report.durations,
        "recovery": report.recovery,
        "aborted": report.aborted,
        "notices": list(report.notices),
        "downtimes": [attrs.asdict(d) for d in report.downtimes],
        "targets": [attrs.asdict(t) for t in report.targets],
        "scenario": None if report.scenario is None else report.scenario.as_dict(),
    }


def render_json(report: Report) -> str:
    """Render the report as one JSON document, for machines.

    Args:
        report: The report.

    Returns:
        The JSON text.
    """
    return json.dumps(report_json(report), indent=1, allow_nan=False)  # valid JSON, always


def _cell(text: object) -> str:
    """Journal text, safe in one Markdown line or table cell: no line breaks, no table pipes, no raw HTML.

    A journal is a file anyone can edit: a ``\\r`` split a table row, a newline started a heading,
    and ``<script>`` or ``</table>`` went through to whatever renders the Markdown.
    """
    line = " ".join(str(text).splitlines())
    for raw, safe in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        line = line.replace(raw, safe)
    return line


def _code(text: object) -> str:
    """Journal text inside a Markdown code span: one line, no backtick to end it early (HTML is inert there)."""
    return " ".join(str(text).splitlines()).replace("`", "'").replace("|", "\\|")


def render_markdown(report: Report) -> str:
    """Render the header, verdict, per-kind table and failures, for an incident or a pull request.

    Args:
        report: The report.

    Returns:
        The Markdown text.
    """
    span = ""
    if report.started_at is not None and report.ended_at is not None:
        span = f", {report.ended_at - report.started_at:.0f} s from the first start to the last end"
    lines = [
        f"## sf-progress run: {_cell(report.verdict)}",
        "",
        f"- cluster: `{_code(report.endpoint)}`",
        f"- journal: `{_code(report.journal)}` (created {_cell(report.created)}; {report.status}{span})",
        f"- targets: {len(report.targets)}",
        "",
    ]
    for notice in report.notices:
        lines.append(f"> {_cell(notice)}")
    if report.notices:
        lines.append("")
    outcomes = sorted({o for c in report.counts.values() for o in c})
    lines.append("| kind | " + " | ".join(o.replace("_", " ") for o in outcomes) + " | median s | p95 s |")
    lines.append("|---" * (len(outcomes) + 3) + "|")
    for kind, counts in report.counts.items():
        stats = report.durations.get(kind, {})
        cells = [str(counts.get(o, 0)) for o in outcomes]
        lines.append(f"| {kind} | " + " | ".join(cells) + f" | {stats.get('median', '-')} | {stats.get('p95', '-')} |")
    if report.recovery is not None:
        r = report.recovery
        lines += ["", f"Recovery: {int(r['recovered'])} recovered, {int(r['not_recovered'])} not"
                  + (f"; median {r['median']} s, p95 {r['p95']} s, slowest {r['max']} s" if "median" in r else "")]
    if report.scenario is not None:
        lines += scenario_markdown(report.scenario, _cell)
    problems = report.problems
    if problems:
        lines += ["", f"### Did not complete ({len(problems)})", "",
                  "| # | kind | target | operation | outcome | error code | error |", "|---|---|---|---|---|---|---|"]
        for t in problems[:200]:
            outcome = t.outcome if t.recovered is not False else "completed, not recovered"
            lines.append(f"| {t.number} | {t.kind} | {_cell(t.target)} | `{_code(t.operation_id)}` | {outcome} | "
                         f"{t.code} | {_cell(t.why)} |")
        if len(problems) > 200:
            lines.append(f"| … | {len(problems) - 200} more | | | | | |")
    return "\n".join(lines) + "\n"


def render(report: Report, fmt: str = "html") -> str:
    """Render *report* in one of :data:`FORMATS`.

    Args:
        report: The report.
        fmt: ``"html"`` (one self-contained page; needs the ``report`` extra), ``"md"``,
            ``"json"``, ``"junit"`` (JUnit XML, for CI systems) or ``"verdict"`` (one JSON
            object: outcome, conclusive, counts, warnings).

    Returns:
        The text.

    Raises:
        ValueError: An unknown format.
        ModuleNotFoundError: ``html`` without Bokeh (the ``report`` extra), said with the command
            that installs it.
    """
    if fmt == "html":
        check_html()
        from ._html import render_html

        return render_html(report)
    renderers = {"md": render_markdown, "json": render_json, "junit": render_junit, "verdict": render_verdict}
    if fmt not in renderers:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return renderers[fmt](report)


def write_report(report: Report, path: str | os.PathLike[str], fmt: str = "html") -> None:
    """Write *report* to *path*, in one of :data:`FORMATS` (see :func:`render`).

    Args:
        report: The report.
        path: Where to write it.
        fmt: The format: ``"html"``, ``"md"``, ``"json"``, ``"junit"`` or ``"verdict"``.

    Raises:
        ValueError: An unknown format.
        ModuleNotFoundError: ``html`` without Bokeh (the ``report`` extra), said with the command
            that installs it.
        OSError: The file cannot be written.
    """
    text = render(report, fmt)
    Path(os.path.expanduser(path)).write_text(text, encoding="utf-8")
