"""A failover scenario's part of a report: its verdict, each step's fault and validation window, time to stable
per fault, and a failed validation's evidence -- from the journal's ``scenario`` records (``RunSnapshot.scenario``).

Rendered in Markdown (a section), HTML (an inline SVG timeline: each fault's window, then its
validation's, green or red), JUnit (one case per step and per validation) and the JSON formats.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import attrs

from ._stats import spread

__all__ = ["ScenarioReport", "ScenarioStep", "junit_cases", "scenario_html", "scenario_markdown", "scenario_report"]


@attrs.frozen
class ScenarioStep:
    """One step (or, as step -1, the check before the first fault): its fault's and its validation's windows."""

    step: int
    fault: str | None
    partition: str | None
    operation_id: str | None
    started_at: float | None  # the fault sent (or, for step -1, the validation begun)
    fault_ended_at: float | None
    fault_ok: bool | None
    fault_detail: str
    validated_at: float | None  # when the validation ended
    stable: bool | None
    stable_s: float | None  # time to stable (or the timeout)
    evidence: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, recurse=False) | {"evidence": list(self.evidence)}


@attrs.frozen
class ScenarioReport:
    """The scenario of a journal."""

    service: str
    verdict: str | None  # passed / failed / aborted; None while it runs (or was killed)
    reason: str | None
    steps: tuple[ScenarioStep, ...]
    time_to_stable: Mapping[str, Mapping[str, float]]  # fault -> count, mean, min, median, p95, max seconds
    evidence: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"service": self.service, "verdict": self.verdict, "reason": self.reason,
                "time_to_stable": {k: dict(v) for k, v in self.time_to_stable.items()},
                "evidence": list(self.evidence), "steps": [s.as_dict() for s in self.steps]}


def scenario_report(records: Sequence[Mapping[str, Any]]) -> ScenarioReport | None:
    """The scenario the records tell (``None``: the journal holds no scenario)."""
    if not records or records[0].get("what") != "definition":
        return None
    steps: dict[int, dict[str, Any]] = {}
    stopped: Mapping[str, Any] = {}
    for record in records[1:]:
        what, at = record.get("what"), record.get("at")
        n = record.get("step")
        if what == "stopped":
            stopped = record
            continue
        if not isinstance(n, int):
            continue
        row = steps.setdefault(n, {"step": n, "fault": None, "partition": None, "operation_id": None,
                                   "started_at": None, "fault_ended_at": None, "fault_ok": None, "fault_detail": "",
                                   "validated_at": None, "stable": None, "stable_s": None, "evidence": ()})
        if what == "step":
            row.update(fault=record.get("fault"), partition=record.get("partition"),
                       operation_id=record.get("operation_id"), started_at=at)
        elif what == "fault":
            row.update(fault_ended_at=at, fault_ok=bool(record.get("ok")), fault_detail=str(record.get("detail", "")))
        elif what == "validation":
            seconds = float(record.get("seconds") or 0.0)
            row.update(validated_at=at, stable=bool(record.get("stable")), stable_s=seconds,
                       evidence=tuple(str(e) for e in record.get("evidence") or ()))
            if row["started_at"] is None and isinstance(at, (int, float)):
                row["started_at"] = at - seconds
    rows = tuple(ScenarioStep(**steps[n]) for n in sorted(steps))
    by_fault: dict[str, list[float]] = {}
    for step in rows:
        if step.fault and step.stable and step.stable_s is not None:
            by_fault.setdefault(step.fault, []).append(step.stable_s)
    failed = next((r.evidence for r in rows if r.stable is False), ())
    return ScenarioReport(
        service=str(records[0].get("service_id", "")), verdict=stopped.get("verdict"), reason=stopped.get("reason"),
        steps=rows, time_to_stable={fault: _stats(values) for fault, values in sorted(by_fault.items())},
        evidence=tuple(str(e) for e in stopped.get("evidence") or ()) or failed,
    )


def _stats(values: list[float]) -> dict[str, float]:
    """The validations' count and mean, and the report's spread (min, median, p95, max)."""
    return {"count": float(len(values)), "mean": round(statistics.fmean(values), 3), **spread(values)}


def _label(row: ScenarioStep) -> str:
    return "before the first fault" if row.step < 0 else f"step {row.step}: {row.fault}"


def scenario_markdown(s: ScenarioReport, cell: Any) -> list[str]:
    """The scenario's Markdown section (*cell* escapes a table cell)."""
    lines = ["", f"### Failover scenario on {cell(s.service)}: {cell(s.verdict or 'not ended')}"
             + (f" ({cell(s.reason)})" if s.reason else ""), ""]
    if s.time_to_stable:
        lines += ["| fault | validations | mean s to stable | p95 | max |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {cell(fault)} | {int(v['count'])} | {v['mean']:.1f} | {v['p95']:.1f} | {v['max']:.1f} |"
                  for fault, v in s.time_to_stable.items()]
    if s.evidence:
        lines += ["", "**The validation that failed saw:**", ""] + [f"- {cell(line)}" for line in s.evidence]
    lines += ["", "| step | partition | fault | validation |", "|---|---|---|---|"]
    for row in s.steps:
        fault = "—" if row.fault_ok is None else ("ok" if row.fault_ok else f"error: {row.fault_detail}")
        check = "—" if row.stable is None else f"{'stable' if row.stable else 'NOT stable'} after {row.stable_s:.1f}s"
        lines.append(f"| {cell(_label(row))} | {cell(row.partition or '')} | {cell(fault)} | {cell(check)} |")
    return lines


def scenario_html(s: ScenarioReport) -> str:
    """The scenario's HTML section: verdict, an SVG timeline of fault and validation windows, time to stable."""
    times = [t for r in s.steps for t in (r.started_at, r.fault_ended_at, r.validated_at) if t is not None]
    begin, end = (min(times), max(times)) if times else (0.0, 1.0)
    span = max(end - begin, 1e-6)
    width, row_h = 900, 16
    bars = []
    for i, row in enumerate(s.steps):
        y = 4 + i * row_h

        def x(t: float) -> float:
            return 220 + (t - begin) / span * (width - 230)

        bars.append(f'<text x="0" y="{y + 11}" font-size="11">{escape(_label(row))[:40]}</text>')
        if row.started_at is not None and row.fault_ended_at is not None:
            colour = "#4c78a8" if row.fault_ok else "#f58518"
            wide = max(1.0, x(row.fault_ended_at) - x(row.started_at))
            bars.append(f'<rect x="{x(row.started_at):.1f}" y="{y}" width="{wide:.1f}" '
                        f'height="12" fill="{colour}"><title>fault {escape(row.fault_detail)}</title></rect>')
        if row.validated_at is not None and row.stable_s is not None:
            start = row.validated_at - row.stable_s
            colour = "#54a24b" if row.stable else "#e45756"
            bars.append(f'<rect x="{x(start):.1f}" y="{y}" width="{max(1.0, x(row.validated_at) - x(start)):.1f}" '
                        f'height="12" fill="{colour}" opacity="0.8"><title>validation: {row.stable_s:.1f}s'
                        f'</title></rect>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{8 + len(s.steps) * row_h}" '
           f'role="img" aria-label="scenario timeline">{"".join(bars)}</svg>')
    table = "".join(f"<tr><td>{escape(f)}</td><td>{int(v['count'])}</td><td>{v['mean']:.1f}</td><td>{v['p95']:.1f}"
                    f"</td><td>{v['max']:.1f}</td></tr>" for f, v in s.time_to_stable.items())
    evidence = "".join(f"<li>{escape(line)}</li>" for line in s.evidence)
    return (f"<h2>Failover scenario: {escape(s.verdict or 'not ended')}"
            + (f" ({escape(s.reason)})" if s.reason else "") + "</h2>"
            + "<p class='note'>Each step: its fault (blue; orange when it failed), then its validation "
              "(green: stable; red: not stable by the stabilisation timeout).</p>"
            + f'<div id="scenario-timeline">{svg}</div>'
            + ("<h3>Time to stable</h3><table><tr><th>fault</th><th>validations</th><th>mean s</th><th>p95</th>"
               f"<th>max</th></tr>{table}</table>" if table else "")
            + (f"<h3>The validation that failed saw</h3><ul id='scenario-evidence'>{evidence}</ul>"
               if evidence else ""))


def junit_cases(s: ScenarioReport, seconds: Any) -> tuple[list[str], int, int]:
    """One JUnit case per step's fault and per validation; (cases, failures, errors)."""
    cases: list[str] = []
    failures = errors = 0
    for row in s.steps:
        if row.step >= 0 and row.fault_ok is not None:
            took = (row.fault_ended_at or 0.0) - (row.started_at or 0.0)
            head = (f"<testcase classname={quoteattr('scenario fault ' + (row.fault or ''))} "
                    f"name={quoteattr(f'step {row.step} on {row.partition}')} time=\"{seconds(took)}\"")
            if row.fault_ok:
                cases.append(head + "/>")
            else:
                errors += 1
                cases.append(head + f"><error type=\"fault_error\" message={quoteattr(row.fault_detail)}/></testcase>")
        if row.stable is not None:
            head = (f"<testcase classname=\"scenario validation\" name={quoteattr(_label(row))} "
                    f"time=\"{seconds(row.stable_s or 0.0)}\"")
            if row.stable:
                cases.append(head + "/>")
            else:
                failures += 1
                text = escape("\n".join(row.evidence))
                message = quoteattr(f"not stable after {row.stable_s or 0:.1f}s")
                cases.append(head + f"><failure type=\"not_stable\" message={message}>{text}</failure></testcase>")
    return cases, failures, errors
