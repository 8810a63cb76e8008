"""``sf-progress check`` and ``ProgressClient.check()``: may faults go in now? (issue 31, item 1)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

import pytest

from sf_progress import CheckStatus, FabricError, FaultTarget, ProgressClient
from sf_progress.sync import SyncProgressClient
from sf_progress.testing import FakeCluster
from sf_progress.testing._control import ControlPlane

from .test_cli import ThreadedCluster, cli


@pytest.fixture
def fake() -> Iterator[ThreadedCluster]:
    threaded = ThreadedCluster()
    yield threaded
    threaded.close()


async def test_a_healthy_cluster_passes_every_check_in_one_request_each(cluster: FakeCluster) -> None:
    async with ProgressClient(cluster.url) as client:
        preflight = await client.check()
    assert preflight.allowed
    assert preflight.reachable
    assert [c.name for c in preflight.checks] == [
        "gateway", "version", "name", "fault-analysis", "repair-manager", "chaos", "upgrade", "health", "lever"]
    assert {c.status for c in preflight.checks} == {CheckStatus.OK}
    assert preflight["name"].value == "DevCluster"
    assert preflight["version"].value == cluster.cluster_version
    assert cluster.requests == 8  # every fact read once, all at once


SCRIPTS: dict[str, tuple[Callable[[ControlPlane], None], str, CheckStatus, str]] = {
    "no fault analysis": (lambda c: c.system_services.discard("FaultAnalysisService"), "fault-analysis",
                          CheckStatus.FORBIDS, "off by default on Linux and one-node clusters"),
    "fault analysis unhealthy": (lambda c: c.service_health.update(FaultAnalysisService="Error"), "fault-analysis",
                                 CheckStatus.FORBIDS, "health Error"),
    "upgrade": (lambda c: setattr(c, "upgrade_state", "RollingForwardInProgress"), "upgrade", CheckStatus.FORBIDS,
                "a cluster upgrade is in progress (RollingForwardInProgress)"),
    "rolling back, pending": (lambda c: setattr(c, "upgrade_state", "RollingBackPending"), "upgrade",
                              CheckStatus.FORBIDS, "RollingBackPending"),
    "rolled back": (lambda c: setattr(c, "upgrade_state", "RollingBackCompleted"), "upgrade", CheckStatus.OK,
                    "no cluster upgrade in progress"),
    "chaos": (lambda c: setattr(c, "chaos_status", "Running"), "chaos", CheckStatus.FORBIDS, "SF Chaos is running"),
    "health error": (lambda c: setattr(c, "health", "Error"), "health", CheckStatus.FORBIDS, "cluster health Error"),
    "health warning": (lambda c: setattr(c, "health", "Warning"), "health", CheckStatus.WARN,
                       "cluster health Warning"),
    "no repair manager": (lambda c: c.system_services.discard("RepairManagerService"), "repair-manager",
                          CheckStatus.WARN, "repair tasks cannot be read"),
    "lever": (lambda c: c.set_property("fabric:/sfprogress/control", "killswitch", "game day over"), "lever",
              CheckStatus.FORBIDS, "game day over"),
}


@pytest.mark.parametrize("case", list(SCRIPTS))
async def test_each_check_says_what_it_saw(cluster: FakeCluster, case: str) -> None:
    script, name, status, words = SCRIPTS[case]
    script(cluster.control)
    async with ProgressClient(cluster.url) as client:
        preflight = await client.check()
    assert preflight[name].status is status
    assert words in preflight[name].detail
    assert preflight.allowed is (status is not CheckStatus.FORBIDS)
    others = [c for c in preflight.checks if c.name != name]
    assert {c.status for c in others} == {CheckStatus.OK}


async def test_without_the_fault_analysis_service_fault_calls_fail_as_a_real_cluster_fails(
    cluster: FakeCluster,
) -> None:
    """500 FMFailoverUnitNotFound (0x80071D0A) on every /Faults call (faults-beyond-fas §5.8)."""
    cluster.control.system_services.discard("FaultAnalysisService")
    async with ProgressClient(cluster.url) as client:
        with pytest.raises(FabricError) as caught:
            await client.start(FaultTarget.restart("app~svc", uuid.uuid4()))
    assert caught.value.code == "FMFailoverUnitNotFound"
    assert caught.value.status == 500


def test_the_command_exits_0_8_or_1(fake: ThreadedCluster) -> None:
    ok = cli("check", "--endpoint", fake.url)
    assert ok.exit_code == 0, ok.output
    assert "faults may be injected" in ok.output
    fake.call(lambda: fake.cluster.control.system_services.discard("FaultAnalysisService"))
    fake.call(setattr, fake.cluster.control, "chaos_status", "Running")
    forbidden = cli("check", "--endpoint", fake.url)
    assert forbidden.exit_code == 8
    assert "faults must not be injected now: fault-analysis, chaos" in forbidden.output
    as_json = cli("check", "--endpoint", fake.url, "-o", "json")
    assert as_json.exit_code == 8
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert lines[-1] == {"allowed": False, "reachable": True}
    assert {line["check"]: line["status"] for line in lines[:-1]}["chaos"] == "forbids"
    unreachable = cli("check", "--endpoint", "http://127.0.0.1:9")
    assert unreachable.exit_code == 1
    assert "connection refused" in unreachable.output
    assert "Traceback" not in unreachable.output


async def test_refused_credentials_are_said_not_mistaken_for_a_forbidding_check() -> None:
    from sf_progress import TLSConfig

    async with FakeCluster(token="right") as cluster, ProgressClient(
        cluster.url, token_provider=lambda: "wrong", tls=TLSConfig(allow_insecure_http=True)
    ) as client:
        preflight = await client.check()
    assert not preflight.reachable
    assert not preflight.allowed
    (only,) = preflight.checks
    assert only.name == "credentials"
    assert only.status is CheckStatus.FAILED


def test_the_blocking_client_checks_too(fake: ThreadedCluster) -> None:
    with SyncProgressClient(fake.url) as client:
        assert client.check().allowed
