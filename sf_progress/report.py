"""A campaign at a glance: ``build_report(journal)`` → a typed :class:`Report`, as HTML, Markdown or JSON.

Works on a finished journal, on one still being written (a snapshot of where it stands;
nothing is locked or changed), and on one cut by a crash (what it knows, said plainly).
``render_markdown`` and ``render_json`` need nothing more; ``render_html`` needs the
``report`` extra (Bokeh, for the interactive, self-contained charts).
"""

from __future__ import annotations

import json
import os
import statistics
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ._journal import TargetState, _read
from ._kinds import SHORT_NAMES
from ._platform import lock_exclusive

__all__ = ["Report", "ReportTarget", "build_report", "render_json", "render_markdown", "write_report"]

#: How each kind is named in a report (the command line's spelling).
KIND_NAMES = SHORT_NAMES
#: Outcomes of targets that did not end in the journal.
PENDING, NOT_STARTED, UNCONFIRMED = "pending", "not started", "start not confirmed"


@attrs.frozen
class ReportTarget:
    """One target of the run, as the journal knows it (times: wall-clock seconds, ``None`` when not recorded)."""

    number: int
    kind: str
    target: str
    operation_id: str
    outcome: str  # completed, faulted, cancelled, not_found, timed_out, failed, pending, not started, ...
    state: str | None = None
    error_code: int | None = None
    error: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    elapsed: float | None = None
    recovered: bool | None = None
    recovery_s: float | None = None
    service: str | None = None


@attrs.frozen
class Report:
    """What a journal says of its run: where it stands, its verdict, and every target."""

    journal: str
    endpoint: str
    created: str
    status: str  # finished, in progress, interrupted, cut short
    verdict: str
    targets: tuple[ReportTarget, ...]
    counts: Mapping[str, Mapping[str, int]]  # kind -> outcome -> count
    durations: Mapping[str, Mapping[str, float]]  # kind -> min / median / p95 / max seconds of ended faults
    recovery: Mapping[str, float] | None  # recovered / not / median / p95 / max seconds, when recorded
    aborted: str | None
    notices: tuple[str, ...]
    started_at: float | None
    ended_at: float | None

    @property
    def problems(self) -> tuple[ReportTarget, ...]:
        """The targets that did not complete (or completed without recovering)."""
        return tuple(t for t in self.targets if t.outcome != "completed" or t.recovered is False)


def _row(state: TargetState) -> ReportTarget:
    ref = state.target.ref
    result = state.result
    outcome = PENDING if state.accepted else UNCONFIRMED if state.intent else NOT_STARTED
    fields: dict[str, Any] = {}
    if state.rejected is not None and result is None:
        outcome, fields["error"] = NOT_STARTED, state.rejected
    if result is not None:
        outcome = result.outcome.value
        recovery = result.recovery
        fields.update(
            state=None if result.state is None else result.state.value,
            error_code=result.error_code,
            error=result.error,
            elapsed=result.elapsed,
            recovered=None if recovery is None else recovery.recovered,
            recovery_s=None if recovery is None else recovery.elapsed,
        )
    elif state.state is not None:
        fields["state"] = state.state
    started = state.accepted_at or state.intent_at
    return ReportTarget(
        number=result.number if result is not None else -1,
        kind=KIND_NAMES.get(ref.kind, ref.kind.value),
        target=ref.target,
        operation_id=str(ref.operation_id),
        outcome=outcome,
        started_at=started,
        ended_at=state.ended_at,
        service=None if ref.node_name is not None else ref.service_name,
        **fields,
    )


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "min": round(ordered[0], 3),
        "median": round(statistics.median(ordered), 3),
        "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 3),
        "max": round(ordered[-1], 3),
    }


def _held_by_a_run(path: Path) -> bool:
    """Whether another process holds the journal's lock (a run is writing it now)."""
    try:
        with open(path, "rb") as file:
            try:
                lock_exclusive(file.fileno())
            except OSError:
                return True
    except OSError:
        return False
    return False  # closing the file released the lock we took


def build_report(journal: str | os.PathLike[str]) -> Report:
    """Read *journal* (never locking or changing it) and summarise its run.

    A journal still being written gives a snapshot; one cut by a crash gives what it knows,
    said plainly.

    Args:
        journal: The journal's path (``~`` is expanded).

    Returns:
        The :class:`Report`.

    Raises:
        JournalError: The file is not an sf_progress journal.
        OSError: The file cannot be read.
    """
    path = Path(os.path.expanduser(journal))
    data = path.read_bytes()
    endpoint, states, notices, _, run = _read(data, path, lenient=True)
    header = json.loads(data.split(b"\n", 1)[0])
    targets = tuple(attrs.evolve(_row(state), number=n) for n, state in enumerate(states))
    counts: dict[str, Counter[str]] = {}
    for t in targets:
        counts.setdefault(t.kind, Counter())[t.outcome] += 1
    durations = {}
    for kind in counts:
        ended = [t.elapsed for t in targets if t.kind == kind and t.elapsed is not None and t.outcome != "failed"]
        if ended:
            durations[kind] = _stats(ended)
    recoveries = [t for t in targets if t.recovered is not None]
    recovery = None
    if recoveries:
        back = [t.recovery_s for t in recoveries if t.recovered and t.recovery_s is not None]
        recovery = {"recovered": float(sum(1 for t in recoveries if t.recovered)),
                    "not_recovered": float(sum(1 for t in recoveries if not t.recovered))}
        if back:
            recovery.update(_stats(back))
    open_targets = sum(1 for t in targets if t.outcome in (PENDING, UNCONFIRMED, NOT_STARTED) and t.error is None)
    aborted = run.get("aborted")
    if run.get("cut_plan"):
        status = "cut short"
    elif _held_by_a_run(path):
        status = "in progress"
    elif open_targets:
        status = "interrupted"
    else:
        status = "finished"
    times = [x for t in targets for x in (t.started_at, t.ended_at) if x is not None]
    return Report(
        journal=str(path),
        endpoint=endpoint,
        created=str(header.get("created", "")),
        status=status,
        verdict=_verdict(targets, status, aborted, open_targets),
        targets=targets,
        counts={kind: dict(c) for kind, c in sorted(counts.items())},
        durations=durations,
        recovery=recovery,
        aborted=aborted,
        notices=tuple(notices),
        started_at=min(times) if times else None,
        ended_at=max(times) if times else None,
    )


def _verdict(targets: tuple[ReportTarget, ...], status: str, aborted: str | None, open_targets: int) -> str:
    if not targets:
        return "no targets" + (" (the plan was cut short by a crash)" if status == "cut short" else "")
    outcomes = Counter(t.outcome for t in targets)
    unrecovered = sum(1 for t in targets if t.recovered is False)
    parts = []
    if aborted is not None:
        parts.append(f"aborted because {aborted}")
    if status == "cut short":
        parts.append("the plan was cut short by a crash: nothing of it was started")
    bad = {k: v for k, v in outcomes.items() if k != "completed"}
    if not bad and not unrecovered:
        parts.append(f"all {len(targets)} completed")
    else:
        parts.extend(f"{count} {outcome.replace('_', ' ')}" for outcome, count in sorted(bad.items()))
        if unrecovered:
            parts.append(f"{unrecovered} did not recover")
        parts.append(f"{outcomes.get('completed', 0)} completed")
    if status in ("in progress", "interrupted") and open_targets:
        parts.append(f"{status}: {open_targets} not ended yet")
    return "; ".join(parts)


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    import datetime

    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


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
        "targets": [attrs.asdict(t) for t in report.targets],
    }


def render_json(report: Report) -> str:
    """Render the report as one JSON document, for machines.

    Args:
        report: The report.

    Returns:
        The JSON text.
    """
    return json.dumps(report_json(report), indent=1)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


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
        f"## sf-progress run: {report.verdict}",
        "",
        f"- cluster: `{report.endpoint}`",
        f"- journal: `{report.journal}` (created {report.created}; {report.status}{span})",
        f"- targets: {len(report.targets)}",
        "",
    ]
    for notice in report.notices:
        lines.append(f"> {notice}")
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
    problems = report.problems
    if problems:
        lines += ["", f"### Did not complete ({len(problems)})", "",
                  "| # | kind | target | operation | outcome | error code | error |", "|---|---|---|---|---|---|---|"]
        for t in problems[:200]:
            outcome = t.outcome if t.recovered is not False else "completed, not recovered"
            lines.append(f"| {t.number} | {t.kind} | {_cell(t.target)} | `{t.operation_id}` | {outcome} | "
                         f"{'' if t.error_code is None else t.error_code} | {_cell(t.error or '')} |")
        if len(problems) > 200:
            lines.append(f"| … | {len(problems) - 200} more | | | | | |")
    return "\n".join(lines) + "\n"


def write_report(report: Report, path: str | os.PathLike[str], fmt: str = "html") -> None:
    """Write *report* to *path*.

    Args:
        report: The report.
        path: Where to write it.
        fmt: ``"html"`` (one self-contained page; needs the ``report`` extra), ``"md"`` or
            ``"json"``.

    Raises:
        ValueError: An unknown format.
        OSError: The file cannot be written.
    """
    if fmt == "html":
        from ._report_html import render_html

        text = render_html(report)
    elif fmt == "md":
        text = render_markdown(report)
    elif fmt == "json":
        text = render_json(report)
    else:
        raise ValueError(f"format must be html, md or json, got {fmt!r}")
    Path(os.path.expanduser(path)).write_text(text, encoding="utf-8")
