"""`sf-progress report`: a journal of a real run as HTML, Markdown and JSON; the page rendered by headless Chromium."""

from __future__ import annotations

import collections
import json
import math
import os
import random
import re
import shutil
import uuid
from pathlib import Path

import pytest

from sf_progress import FaultRun, FaultTarget, OperationState, ProgressClient
from sf_progress._campaign.journal import lines_of
from sf_progress.report import build_report, render_json, render_markdown, write_report
from sf_progress.testing import FakeCluster, Script

from .test_cli import cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
EXTERNAL = re.compile(r"""(?:\b(?:src|href)\s*=\s*["']?|url\(\s*["']?|@import\s+["']?)https?://""", re.IGNORECASE)
KINDS = {"PartitionRestart": "restart", "PartitionDataLoss": "data-loss", "PartitionQuorumLoss": "quorum-loss",
         "NodeTransition": "node-transition"}


async def real_run(path: Path, cluster: FakeCluster, n: int = 320) -> None:
    """Several hundred targets of every kind through a FaultRun: some fault, some are cancelled."""
    rng = random.Random(7)

    def planner(ref: object) -> Script:
        roll = rng.random()
        if roll < 0.07:
            return Script(duration=rng.uniform(1, 15), outcome=OperationState.FAULTED, rollback=1)
        return Script(duration=rng.uniform(1, 25), recovery=rng.choice([0.5, 2.0, 6.0, math.inf if roll > 0.97 else 1.0]))

    cluster.planner = planner
    for i in range(n):
        cluster.add_node(f"n{i}", 1000 + i)
    targets: list[FaultTarget] = []
    for i in range(n):
        service = f"fabric:/app/svc{i % 5}"
        if i % 4 == 0:
            targets.append(FaultTarget.restart(service, uuid.uuid4()))
        elif i % 4 == 1:
            targets.append(FaultTarget.data_loss(service, uuid.uuid4()))
        elif i % 4 == 2:
            targets.append(FaultTarget.quorum_loss(service, uuid.uuid4(), duration=4))
        else:
            targets.append(FaultTarget.node_transition(f"n{i}", "stop", stop_duration=300))
    async with (
        ProgressClient(cluster.url, allow=("domains", "seed-quorum")) as client,  # (node stops at once)
        await FaultRun.create(path, client, targets, recovery=True) as run,
    ):
        await run.start_pending()
        for target in targets[5:30:6]:
            await client.cancel_operation(target.ref)
        async for _ in run.results(deadline=60):
            pass


@pytest.fixture
async def journal(tmp_path: Path, cluster: FakeCluster) -> Path:
    path = tmp_path / "run.jsonl"
    await real_run(path, cluster)
    return path


async def test_json_counts_equal_the_journal(journal: Path) -> None:
    """Every outcome line of the journal is counted, by kind and outcome."""
    targets = {line["n"]: KINDS[line["type"]] for line in lines_of(journal) if line.get("event") == "target"}
    expected: dict[str, collections.Counter[str]] = {}
    for line in lines_of(journal):
        if line.get("event") == "outcome":
            expected.setdefault(targets[line["n"]], collections.Counter())[line["outcome"]] += 1
    data = json.loads(render_json(build_report(journal)))
    assert data["counts"] == {kind: dict(counts) for kind, counts in expected.items()}
    assert sum(sum(c.values()) for c in data["counts"].values()) == 320
    assert {"completed", "faulted", "cancelled"} <= {o for c in data["counts"].values() for o in c}
    assert data["status"] == "finished"
    assert data["recovery"]["not_recovered"] >= 1  # some never came back
    assert len(data["targets"]) == 320


async def test_markdown_has_the_verdict_the_table_and_the_failures(journal: Path) -> None:
    text = render_markdown(build_report(journal))
    assert text.startswith("## sf-progress run: ")
    assert "faulted" in text.splitlines()[0]
    assert "| kind |" in text
    assert "### Did not complete" in text
    assert "did not recover" in text.splitlines()[0]


async def test_a_journal_still_being_written_and_one_cut_by_a_crash(tmp_path: Path, cluster: FakeCluster) -> None:
    """A run holding its journal: "in progress"; a crash mid-run: "interrupted"; a cut plan: said plainly."""
    cluster.default_script = Script(duration=100)
    path = tmp_path / "live.jsonl"
    async with ProgressClient(cluster.url) as client:
        run = await FaultRun.create(path, client, [FaultTarget.restart("app~svc", uuid.uuid4()) for _ in range(4)])
        await run.start_pending()
        live = build_report(path)
        assert live.status == "in progress"
        assert "not ended yet" in live.verdict
        run.close()
    crashed = build_report(path)  # nobody holds it now, and four faults never ended in it
    assert crashed.status == "interrupted"
    assert {t.outcome for t in crashed.targets} == {"pending"}
    cut = tmp_path / "cut.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    cut.write_text("".join(lines[:3]) + lines[3][:10])  # header, two targets, and a line cut mid-write
    report = build_report(cut)
    assert report.status == "cut short"
    assert "cut short by a crash" in report.verdict
    assert any("cut short" in notice for notice in report.notices)
    write_report(report, tmp_path / "cut.html")  # still a page


async def test_the_html_page_is_self_contained(journal: Path, tmp_path: Path) -> None:
    """No http(s) resource anywhere: scripts and styles inlined; every target in the table."""
    out = tmp_path / "report.html"
    write_report(build_report(journal), out)
    page = out.read_text()
    assert EXTERNAL.search(page) is None
    assert page.count("<tr>") >= 320 + 1
    assert 'id="timeline"' in page


def test_the_command_writes_each_format(tmp_path: Path, journal: Path) -> None:
    """sf-progress report JOURNAL [-o html|md|json] [--to PATH]: -o is the output format, as on every command."""
    assert cli("report", str(journal)).exit_code == 0
    assert journal.with_suffix(".html").exists()
    md = cli("report", str(journal), "-o", "md", "--to", "-")
    assert md.exit_code == 0
    assert md.stdout.startswith("## sf-progress run:")
    as_json = cli("report", str(journal), "-o", "json", "--to", str(tmp_path / "r.json"))
    assert as_json.exit_code == 0
    assert json.loads((tmp_path / "r.json").read_text())["status"] == "finished"
    assert cli("report", str(tmp_path / "nothing.jsonl")).exit_code == 2


NO_BROWSER = "no Chromium/chromedriver here (.ci/run installs Debian's chromium and chromium-driver)"


def _render_in_chromium(page: Path, screenshot: str | None = None) -> None:
    """Open *page* in headless Chromium: the timeline is drawn, no console error; a screenshot if asked."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1800"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(page.as_uri())
        WebDriverWait(driver, 60).until(
            lambda d: d.execute_script("return document.querySelector('#timeline').childElementCount") > 0
        )
        drawn = driver.execute_script(
            "var c = document.querySelector('#timeline').firstElementChild;"
            "return c.shadowRoot ? c.shadowRoot.childElementCount : c.childElementCount;"
        )
        assert drawn > 0
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
        if screenshot is not None:
            assert driver.save_screenshot(screenshot)
            assert os.path.getsize(screenshot) > 10_000
    finally:
        driver.quit()


@pytest.mark.real_wait
@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason=NO_BROWSER)
async def test_the_page_renders_in_headless_chromium(tmp_path: Path) -> None:
    """A real browser: no console errors, the timeline drawn, a screenshot taken."""
    from sf_progress import set_testing

    path = tmp_path / "run.jsonl"
    with set_testing(True):
        async with FakeCluster() as cluster:
            await real_run(path, cluster, n=120)
    page = tmp_path / "report.html"
    write_report(build_report(path), page)
    _render_in_chromium(page, os.environ.get("SF_PROGRESS_REPORT_PNG", str(tmp_path / "report.png")))


@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason=NO_BROWSER)
def test_a_huge_run_gives_a_page_that_opens(tmp_path: Path) -> None:
    """Beyond MAX_DRAWN targets the page aggregates, says so, and still opens in a real browser.

    (Issue 35, item 19: 178,000 targets gave a 60 MB page a headless browser could not render in 120 s.)
    """
    from sf_progress.report._html import MAX_DRAWN, MAX_PROBLEM_ROWS

    n = MAX_DRAWN + 1_000
    rng = random.Random(3)
    lines: list[dict[str, object]] = [
        {"v": 3, "event": "journal", "endpoint": "http://c:19080", "created": "2026-12-07T10:00:00Z"}]
    lines += [{"event": "target", "n": i, "type": "PartitionRestart", "service_id": "app~svc",
               "partition_id": str(uuid.uuid4()), "operation_id": str(uuid.uuid4()),
               "spec": {"mode": "AllReplicasOrInstances"}} for i in range(n)]
    lines.append({"event": "planned", "count": n})
    for i in range(n):
        faulted = rng.random() < 0.3  # more problems than the table lists
        lines += [{"event": "accepted", "n": i, "at": 1000.0 + i * 0.1},
                  {"event": "outcome", "n": i, "outcome": "faulted" if faulted else "completed", "error_code": 0,
                   "state": "Faulted" if faulted else "Completed", "error": None, "polls": 2, "elapsed": 5.0,
                   "at": 1005.0 + i * 0.1}]
    journal = tmp_path / "huge.jsonl"
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = build_report(journal)
    assert len(report.problems) > MAX_PROBLEM_ROWS
    page = tmp_path / "huge.html"
    write_report(report, page)
    text = page.read_text()
    assert f"beyond {MAX_DRAWN:,} this page aggregates" in text
    assert "faults active per kind and time bucket" in text
    assert text.count("<tr>") == 1 + MAX_PROBLEM_ROWS  # the header and the listed problems: no row per target
    assert f"the first {MAX_PROBLEM_ROWS:,} of {len(report.problems):,} are listed" in text
    assert len(text) < 2_500_000  # ~1.6 MB however many targets: BokehJS and the capped tables
    _render_in_chromium(page)


def test_the_demo_writes_a_report(tmp_path: Path) -> None:
    """sf-progress demo --report PATH: the demo's run, kept in a journal, as a page."""
    out = tmp_path / "demo.html"
    result = cli("demo", "--partitions", "40", "--seed", "2", "--report", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "sf-progress run report" in page
    assert EXTERNAL.search(page) is None
    assert "report:" in result.stderr


def test_the_report_never_writes_over_its_journal(tmp_path: Path, journal: Path) -> None:
    """--to naming the journal, or a journal named like the report (campaign.json -o json): refused, journal kept.

    (Issue 35, item 3: the journal was overwritten, and ``resume`` then refused it.)
    """
    before = journal.read_bytes()
    refused = cli("report", str(journal), "-o", "md", "--to", str(journal))
    assert refused.exit_code == 2
    assert "overwrite its own journal" in refused.stderr
    assert journal.read_bytes() == before
    named_like_json = tmp_path / "campaign.json"
    named_like_json.write_bytes(before)
    refused = cli("report", str(named_like_json), "-o", "json")
    assert refused.exit_code == 2
    assert named_like_json.read_bytes() == before


def test_absurd_numbers_in_a_journal_never_break_a_report(journal: Path, tmp_path: Path) -> None:
    """NaN, infinities and 1e308 as durations or times: every format renders, and the JSON stays JSON.

    (Issue 35, item 16: the HTML report crashed with a traceback and the JSON one held ``NaN``.)
    """
    poison = [float("nan"), float("inf"), -float("inf"), 1e308, -1e308]
    lines = journal.read_text().splitlines()
    changed = []
    for i, line in enumerate(lines):
        record = json.loads(line)
        if record.get("event") in ("outcome", "accepted", "intent"):
            bad = poison[i % len(poison)]
            record["at"] = bad
            if record["event"] == "outcome":
                record.update(elapsed=bad, recovery_s=bad, recovered=True)
        changed.append(json.dumps(record))  # Python writes NaN and Infinity: what a hand edit or a bug may leave
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(changed) + "\n")
    report = build_report(broken)

    def strict(constant: str) -> object:
        raise ValueError(f"not JSON: {constant}")

    json.loads(render_json(report), parse_constant=strict)
    render_markdown(report)
    write_report(report, tmp_path / "broken.html", "html")
    assert all(t.elapsed is None or 0 <= t.elapsed <= 365 * 86400 for t in report.targets)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_the_report_refuses_what_is_not_a_journal_file(tmp_path: Path) -> None:
    """A FIFO (it hung) and /dev/zero (it ended in a MemoryError traceback): a clear error, exit 2.

    (Issue 35, item 17.)
    """
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        result = cli("report", str(path), "-o", "md", "--to", "-")
        assert result.exit_code == 2, result.output
        assert "not a regular file" in result.stderr


def test_journal_text_cannot_break_or_inject_into_the_markdown(tmp_path: Path) -> None:
    """Carriage returns, newlines with headings, raw HTML and pipes in journal text stay inert text.

    (Issue 35, item 15: a raw ``\\r`` split a table row, a newline injected a heading, ``<img onerror>``,
    ``<script>`` and ``</table>`` passed through.)
    """
    evil = "boom\r\n# injected heading\n<script>alert(1)</script><img src=x onerror=alert(2)></table> | x"
    target = {"event": "target", "n": 0, "type": "PartitionRestart", "service_id": "app~svc",
              "partition_id": str(uuid.uuid4()), "operation_id": str(uuid.uuid4()), "spec": {"mode": "AllReplicasOrInstances"}}
    lines = [
        {"v": 3, "event": "journal", "endpoint": "http://c:19080", "created": evil},
        target,
        {"event": "planned", "count": 1},
        {"event": "aborted", "reason": evil},
        {"event": "outcome", "n": 0, "outcome": "faulted", "state": "Faulted", "error_code": -2147017729,
         "error": evil, "polls": 1, "elapsed": 1.0},
    ]
    journal = tmp_path / "evil.jsonl"
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines))
    text = render_markdown(build_report(journal))
    assert "\r" not in text
    assert "<script" not in text
    assert "<img" not in text
    assert "</table>" not in text
    assert not any(line.startswith("# ") for line in text.splitlines())
    rows = [line for line in text.splitlines() if line.startswith("| 0 |")]
    assert len(rows) == 1
    assert rows[0].count(" | ") == 6  # seven cells: the pipe in the text did not add one


def test_the_failure_reason_is_named_and_the_recovery_reason_kept(tmp_path: Path) -> None:
    """An error code is shown with its name; a target that did not recover says why (from the journal).

    (Issue 35, item 6: raw negative codes beside an empty error column, and the recovery reason dropped.)
    """
    def target(n: int) -> dict[str, object]:
        return {"event": "target", "n": n, "type": "PartitionRestart", "service_id": "app~svc",
                "partition_id": str(uuid.uuid4()), "operation_id": str(uuid.uuid4()),
                "spec": {"mode": "AllReplicasOrInstances"}}

    lines = [
        {"v": 3, "event": "journal", "endpoint": "http://c:19080", "created": "2026-12-07T10:00:00Z"},
        target(0), target(1), {"event": "planned", "count": 2},
        {"event": "outcome", "n": 0, "outcome": "faulted", "state": "Faulted", "error_code": -2147017729,
         "error": None, "polls": 3, "elapsed": 4.0},
        {"event": "outcome", "n": 1, "outcome": "completed", "state": "Completed", "error_code": 0, "error": None,
         "polls": 2, "elapsed": 3.0, "recovered": False, "recovery_s": 30.0,
         "recovery_reason": "partition health Warning", "recovery_checks": 9},
    ]
    journal = tmp_path / "run.jsonl"
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = build_report(journal)
    text = render_markdown(report)
    assert "FABRIC_E_TIMEOUT (-2147017729)" in text
    assert "partition health Warning" in text
    data = json.loads(render_json(report))
    assert [t["error_name"] for t in data["targets"]] == ["FABRIC_E_TIMEOUT", None]
    assert data["targets"][1]["recovery_reason"] == "partition health Warning"
    write_report(report, tmp_path / "run.html", "html")
    page = (tmp_path / "run.html").read_text()
    assert "FABRIC_E_TIMEOUT (-2147017729)" in page
    assert "partition health Warning" in page


def test_without_bokeh_the_html_report_says_what_to_install(
    tmp_path: Path, journal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Bokeh: write_report and the commands say "pip install 'sf_progress[report]'", whole, no traceback.

    (Issue 35, item 25: a bare ModuleNotFoundError from write_report, and rich markup ate "[report]".)
    """
    import sys

    monkeypatch.setitem(sys.modules, "bokeh", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "sf_progress.report._html", raising=False)
    with pytest.raises(ModuleNotFoundError, match=re.escape("pip install 'sf_progress[report]'")):
        write_report(build_report(journal), tmp_path / "r.html")
    write_report(build_report(journal), tmp_path / "r.md", "md")  # the others need nothing more
    for args in (["report", str(journal), "--to", str(tmp_path / "r.html")],
                 ["demo", "--partitions", "5", "--report", str(tmp_path / "d.html")]):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert "pip install 'sf_progress[report]'" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "d.html").exists()
