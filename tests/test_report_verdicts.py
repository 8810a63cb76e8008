"""Verdicts where pipelines read them: ``report -o junit`` (validated against Jenkins' junit-10.xsd) and ``-o verdict``."""

from __future__ import annotations

import json
import os
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sf_progress import FaultRun, FaultTarget, ProgressClient
from sf_progress._campaign.journal import lines_of
from sf_progress.report import build_report, render_junit, render_verdict, verdict, write_report
from sf_progress.testing import FakeCluster

from .test_cli import cli
from .test_report import journal, real_run  # noqa: F401 - the fixture (a real 320-target campaign)

ROOT = Path(__file__).resolve().parent.parent
#: Jenkins' JUnit schema, as .ci/run fetches it from pytest's source distribution on the package index.
XSD = Path(os.environ.get("SF_PROGRESS_JUNIT_XSD", ROOT / ".ci-cache" / "junit-10.xsd"))


def _validate(xml: str) -> None:
    if not XSD.is_file():
        pytest.skip(f"no JUnit schema at {XSD} (.ci/run fetches it from pytest's sdist on the package index)")
    import xmlschema

    xmlschema.XMLSchema(str(XSD)).validate(xml)


def _target(n: int) -> dict[str, Any]:
    return {"event": "target", "n": n, "type": "PartitionRestart", "service_id": "app~svc",
            "partition_id": str(uuid.uuid4()), "operation_id": str(uuid.uuid4()),
            "spec": {"mode": "AllReplicasOrInstances"}}


def _outcome(n: int, outcome: str, **more: Any) -> dict[str, Any]:
    return {"event": "outcome", "n": n, "outcome": outcome, "state": more.pop("state", None), "error_code": None,
            "error": None, "polls": 1, "elapsed": more.pop("elapsed", 2.0), "at": 1010.0 + n, **more}


def every_outcome(path: Path) -> Path:
    """A journal with a target of every outcome a run can leave, its times and texts included."""
    lines: list[dict[str, Any]] = [
        {"v": 3, "event": "journal", "endpoint": "http://c:19080", "created": "2026-12-07T10:00:00Z"},
        *(_target(n) for n in range(10)), {"event": "planned", "count": 10},
        *({"event": "intent", "n": n, "at": 1000.0} for n in range(9)),
        *({"event": "accepted", "n": n, "at": 1000.0} for n in range(7)),
        _outcome(0, "completed", state="Completed", error_code=0),
        _outcome(1, "completed", state="Completed", error_code=0, elapsed=32.0, recovered=False, recovery_s=30.0,
                 recovery_reason="partition health Warning <&>", recovery_checks=9),
        _outcome(2, "faulted", state="Faulted", error_code=-2147017729, error="boom \"quoted\" & <tagged>"),
        _outcome(3, "cancelled", state="Cancelled", error_code=0),
        _outcome(4, "timed_out", state="Running"),
        _outcome(5, "not_found"),
        _outcome(6, "failed", error="the gateway went away", reason="wait failed"),
        # 7 and 8: intents without an answer (unconfirmed); 9: never sent
        {"event": "rejected", "n": 8, "error": "HTTP 400 E_INVALIDARG"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_junit_of_every_outcome_validates_and_says_why(tmp_path: Path) -> None:
    report = build_report(every_outcome(tmp_path / "run.jsonl"))
    xml = render_junit(report)
    _validate(xml)
    root = ET.fromstring(xml)
    cases = {case.get("name", "").split()[0]: case for case in root.iter("testcase")}
    assert len(cases) == 10
    kinds = {n: (case[0].tag if len(case) else "passed") for n, case in cases.items()}
    assert kinds == {"#0": "passed", "#1": "failure", "#2": "failure", "#3": "failure", "#4": "failure",
                     "#5": "error", "#6": "error", "#7": "error", "#8": "skipped", "#9": "skipped"}
    assert cases["#1"][0].get("type") == "not_recovered"
    assert "partition health Warning <&>" in cases["#1"][0].get("message", "")
    assert "FABRIC_E_TIMEOUT (-2147017729)" in cases["#2"][0].get("message", "")
    assert 'boom "quoted" & <tagged>' in (cases["#2"][0].text or "")
    assert cases["#1"].get("time") == "32.000"  # the fault (2 s) and its recovery wait (30 s)
    assert all(case.get("classname") == "restart" for case in cases.values())
    (suite,) = root.iter("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "10", "4", "3", "2")
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("10", "4", "3")


async def test_junit_of_a_real_campaign_counts_what_the_journal_holds(journal: Path, tmp_path: Path) -> None:  # noqa: F811
    """The 320-target campaign of the report tests: one case per target, failures as the journal says."""
    out = tmp_path / "run.junit.xml"
    write_report(build_report(journal), out, "junit")
    xml = out.read_text()
    _validate(xml)
    root = ET.fromstring(xml)
    outcomes = Counter(line["outcome"] for line in lines_of(journal) if line.get("event") == "outcome")
    unrecovered = sum(1 for line in lines_of(journal) if line.get("event") == "outcome"
                      and line.get("recovered") is False and line["outcome"] == "completed")
    assert int(root.get("tests", "0")) == 320
    failing = outcomes["faulted"] + outcomes["cancelled"] + outcomes["timed_out"] + unrecovered
    assert int(root.get("failures", "0")) == failing
    assert {suite.get("name") for suite in root.iter("testsuite")} == {
        "restart", "data-loss", "quorum-loss", "node-transition"}


@pytest.mark.parametrize(
    ("shape", "outcome", "conclusive"),
    [("passed", "passed", True), ("faulted", "faulted", True), ("unrecovered", "not recovered", True),
     ("aborted", "aborted", True), ("interrupted", "interrupted", False)],
)
async def test_the_verdict_of_each_kind_of_run(
    tmp_path: Path, cluster: FakeCluster, shape: str, outcome: str, conclusive: bool
) -> None:
    from sf_progress import OperationState
    from sf_progress.testing import Script

    scripts = {
        "passed": Script(duration=1, recovery=1), "faulted": Script(duration=1, outcome=OperationState.FAULTED),
        "unrecovered": Script(duration=1, recovery=float("inf")), "aborted": Script(duration=1),
        "interrupted": Script(duration=100),
    }
    cluster.default_script = scripts[shape]
    path = tmp_path / "run.jsonl"
    targets = [FaultTarget.restart("app~svc", uuid.uuid4()) for _ in range(3)]
    async with ProgressClient(cluster.url) as client, await FaultRun.create(path, client, targets,
                                                                           recovery=True) as run:
        if shape == "aborted":
            run.abort("stopped by hand")
        elif shape == "interrupted":
            await run.start_pending()
        else:
            await run.start_pending()
            async for _ in run.results(deadline=20):
                pass
    data = verdict(build_report(path))
    assert data["outcome"] == outcome
    assert data["conclusive"] is conclusive
    assert data["targets"] == 3
    recorded = Counter(line["outcome"] for line in lines_of(path) if line.get("event") == "outcome")
    if shape in ("passed", "faulted", "unrecovered"):  # the counts are the journal's
        ended = "faulted" if shape == "faulted" else "completed"
        assert data["counts"][ended] == recorded[ended] == 3
    assert data["counts"]["not_recovered"] == (3 if shape == "unrecovered" else 0)
    assert json.loads(render_verdict(build_report(path))) == data  # one line of valid JSON


def test_a_live_run_is_running_and_warnings_are_said(tmp_path: Path) -> None:
    report = build_report(every_outcome(tmp_path / "run.jsonl"))
    data = verdict(report)
    assert data["outcome"] == "interrupted"  # targets 7 and 9 never ended
    assert not data["conclusive"]
    assert any("not confirmed" in w for w in data["warnings"])
    assert data["counts"]["not_recovered"] == 1


def test_the_command_writes_junit_and_verdict(tmp_path: Path) -> None:
    path = every_outcome(tmp_path / "run.jsonl")
    assert cli("report", str(path), "-o", "junit").exit_code == 0
    assert (tmp_path / "run.junit.xml").read_text().startswith('<?xml version="1.0"')
    result = cli("report", str(path), "-o", "verdict", "--to", "-")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["outcome"] == "interrupted"
    assert cli("report", str(path), "-o", "verdict").exit_code == 0
    assert json.loads((tmp_path / "run.verdict.json").read_text())["targets"] == 10
