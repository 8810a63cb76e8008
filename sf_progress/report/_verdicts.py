"""A run's verdict where pipelines and agents read one: JUnit XML, and one JSON verdict object.

``render_junit``: one test case per target (class: its kind; name: ``#n`` and the target),
a failure for a fault that ended badly or a target that did not recover, an error where
the run cannot tell (a start not confirmed, a wait that broke), skipped for a target that
was not started or has not ended; times in seconds.  It validates against the JUnit schema
CI systems read (Jenkins' ``junit-10.xsd``, which GitHub, GitLab and Azure Pipelines accept).

``verdict``: ``schema``, ``outcome`` (``passed``, ``faulted``, ``not recovered``,
``aborted``, ``interrupted``, or ``running`` while a run holds the journal), ``conclusive``,
``verdict`` in words, counts per outcome, and ``warnings`` — the names and places Chaos
Toolkit's agent output (``chaos run --output agent``) uses, so one parser reads both.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from ._model import NOT_STARTED, PENDING, UNCONFIRMED, Report, ReportTarget
from ._scenario import junit_cases

__all__ = ["VERDICT_SCHEMA", "render_junit", "render_verdict", "verdict"]

#: The verdict's ``schema`` (Chaos Toolkit's agent output names its own ``chaostoolkit/agent/run/v1``).
VERDICT_SCHEMA = "sf_progress/verdict/v1"

#: Report outcomes that fail a test case (the fault ended, badly), and those that are errors
#: (the run cannot tell how the fault ended).
_FAILURES = frozenset({"faulted", "cancelled", "timed_out"})
_ERRORS = frozenset({"failed", "not_found", UNCONFIRMED})
_SKIPPED = frozenset({NOT_STARTED, PENDING})


def _seconds(value: float) -> str:
    """A time as the schema's ``SUREFIRE_TIME`` takes it: digits, a point, at most three decimals."""
    return f"{max(0.0, value):.3f}"


def _case_time(t: ReportTarget) -> float:
    """The time a target's case took: its fault (or the least it can have been) and its recovery wait."""
    fault = t.elapsed if t.elapsed is not None else (t.elapsed_bounds[0] if t.elapsed_bounds else 0.0)
    return fault + (t.recovery_s or 0.0)


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _problem(t: ReportTarget) -> tuple[str, str, str] | None:
    """(element, type, message) of a target's case, or ``None`` when it passed."""
    code = f" {t.code}" if t.code else ""
    why = f": {t.why}" if t.why else ""
    if t.outcome in _FAILURES:
        return "failure", t.outcome, f"{t.outcome.replace('_', ' ')}{code}{why}"
    if t.outcome in _ERRORS:
        return "error", t.outcome.replace(" ", "_"), f"{t.outcome.replace('_', ' ')}{code}{why}"
    if t.outcome in _SKIPPED:
        reason = f" ({t.reason})" if t.reason else ""
        return "skipped", t.outcome.replace(" ", "_"), f"{t.outcome}{reason}{why}"
    if t.recovered is False:
        return "failure", "not_recovered", f"completed, but did not recover: {t.recovery_reason or 'unknown'}"
    return None


def _case(t: ReportTarget) -> str:
    head = (f"<testcase classname={quoteattr(t.kind)} name={quoteattr(f'#{t.number} {t.target}')} "
            f"time=\"{_seconds(_case_time(t))}\"")
    problem = _problem(t)
    if problem is None:
        return head + "/>"
    element, kind, message = problem
    details = [f"operation {t.operation_id}", f"state {t.state or 'none read'}"]
    if t.error:
        details.append(f"error: {t.error}")
    if t.recovery_reason:
        details.append(f"recovery: {t.recovery_reason}")
    if t.elapsed_bounds is not None:
        details.append(f"ended unseen, between {t.elapsed_bounds[0]:.1f} and {t.elapsed_bounds[1]:.1f} s")
    body = "" if element == "skipped" else escape("\n".join(details))
    return f"{head}><{element} type={quoteattr(kind)} message={quoteattr(message)}>{body}</{element}></testcase>"


def render_junit(report: Report) -> str:
    """Render the report as JUnit XML: a test suite per fault kind, a test case per target.

    Args:
        report: The report.

    Returns:
        The XML text.
    """
    by_kind: dict[str, list[ReportTarget]] = {}
    for t in report.targets:
        by_kind.setdefault(t.kind, []).append(t)
    suites, totals = [], Counter[str]()
    for kind, targets in sorted(by_kind.items()):
        counts = Counter(problem[0] for t in targets if (problem := _problem(t)) is not None)
        totals.update(counts)
        started = [t.started_at for t in targets if t.started_at is not None]
        stamp = _iso(min(started)) if started else None
        properties = "".join(
            f"<property name={quoteattr(name)} value={quoteattr(value)}/>"
            for name, value in (("endpoint", report.endpoint), ("journal", report.journal),
                                ("status", report.status), ("verdict", report.verdict))
        )
        suites.append(
            f"<testsuite name={quoteattr(kind)} tests=\"{len(targets)}\" failures=\"{counts['failure']}\" "
            f"errors=\"{counts['error']}\" skipped=\"{counts['skipped']}\" "
            f"time=\"{_seconds(sum(_case_time(t) for t in targets))}\""
            + (f" timestamp=\"{stamp}\"" if stamp else "")
            + f"><properties>{properties}</properties>"
            + "".join(_case(t) for t in targets)
            + "</testsuite>"
        )
    span = 0.0 if report.started_at is None or report.ended_at is None else report.ended_at - report.started_at
    tests = len(report.targets)
    if report.scenario is not None:  # a scenario: one case per step's fault and per validation, instead
        cases, failures, errors = junit_cases(report.scenario, _seconds)
        suites = [f"<testsuite name={quoteattr('scenario ' + report.scenario.service)} tests=\"{len(cases)}\" "
                  f"failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{_seconds(span)}\">"
                  + "".join(cases) + "</testsuite>"]
        tests, totals = len(cases), Counter({"failure": failures, "error": errors})
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<testsuites name=\"sf-progress run\" tests=\"{tests}\" failures=\"{totals['failure']}\" "
        f"errors=\"{totals['error']}\" time=\"{_seconds(span)}\">"
        + "".join(suites)
        + "</testsuites>\n"
    )


def verdict(report: Report) -> dict[str, Any]:
    """The run's verdict as one JSON-able object.

    ``outcome``: ``running`` (a run holds the journal), ``interrupted`` (faults left unended,
    or a plan cut short), ``aborted``, ``faulted`` (a fault ended other than Completed, or
    its end could not be read), ``not recovered``, else ``passed``.  ``conclusive``: the run
    ended and every target's end is known.  ``counts``: targets per report outcome, plus
    ``not_recovered``.  ``warnings``: what makes the verdict weaker than it looks.

    Args:
        report: The report.

    Returns:
        ``{"schema", "outcome", "conclusive", "verdict" (in words), "status", "targets",
        "counts", "warnings", "journal", "endpoint", "started_at", "ended_at"}``.
    """
    outcomes = Counter(t.outcome for t in report.targets)
    unrecovered = sum(1 for t in report.targets if t.recovered is False)
    bad = sum(n for outcome, n in outcomes.items() if outcome in _FAILURES | _ERRORS)
    scenario = report.scenario
    if report.status == "in progress":
        outcome = "running"
    elif scenario is not None:  # a scenario's own verdict: failed validation is the service not recovering
        outcome = {"passed": "passed", "failed": "not recovered", "aborted": "aborted"}.get(
            str(scenario.verdict), "interrupted")
    elif report.status in ("interrupted", "cut short"):
        outcome = "interrupted"
    elif report.aborted is not None:
        outcome = "aborted"
    elif bad:
        outcome = "faulted"
    elif unrecovered:
        outcome = "not recovered"
    else:
        outcome = "passed"
    warnings = list(report.notices)
    if outcomes.get(UNCONFIRMED):
        warnings.append(f"{outcomes[UNCONFIRMED]} start(s) not confirmed: resume the run to check them")
    unseen = sum(1 for t in report.targets if t.elapsed_bounds is not None)
    if unseen:
        warnings.append(f"{unseen} fault(s) ended while no client watched: their durations are bounds")
    if not report.targets:
        warnings.append("the run has no targets")
    conclusive = outcome not in ("running", "interrupted") and not outcomes.get(UNCONFIRMED) and bool(report.targets)
    return {
        "schema": VERDICT_SCHEMA,
        "outcome": outcome,
        "conclusive": conclusive,
        "verdict": report.verdict,
        "status": report.status,
        "targets": len(report.targets),
        "counts": {**{k: outcomes[k] for k in sorted(outcomes)}, "not_recovered": unrecovered},
        "warnings": warnings,
        "journal": report.journal,
        "endpoint": report.endpoint,
        "started_at": _iso(report.started_at),
        "ended_at": _iso(report.ended_at),
    }


def render_verdict(report: Report) -> str:
    """Render the verdict (:func:`verdict`) as one line of JSON.

    Args:
        report: The report.

    Returns:
        The JSON text, one line.
    """
    return json.dumps(verdict(report), allow_nan=False) + "\n"
