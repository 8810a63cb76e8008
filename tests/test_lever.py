"""The stop lever (issue 31, item 4) and the fake's naming store, over the real loopback FakeCluster."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sf_progress import (
    FaultRun,
    FaultTarget,
    LeverState,
    OperationState,
    ProgressClient,
    ResultReason,
    SafetyError,
)
from sf_progress.testing import FakeCluster, Fault, Script

from .test_cli import ThreadedCluster, cli
from .test_cli_hardening import fake  # noqa: F401 - the fixture

SVC = "fabric:/app/svc"
P = uuid.UUID(int=5)
NAME = "/Names/sfprogress~control"


@pytest.fixture(autouse=True)
def service(cluster: FakeCluster) -> None:
    cluster.add_service(SVC, [P])


async def call(cluster: FakeCluster, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
    """One raw request of the fake gateway (api-version 6.0 added)."""
    sep = "&" if "?" in path else "?"
    async with aiohttp.ClientSession() as session, session.request(
        method, f"{cluster.url}{path}{sep}api-version=6.0", data=None if body is None else json.dumps(body)
    ) as answer:
        return answer.status, await answer.read()


# --- the fake's naming store (faults-beyond-fas-protocol.md §6) --------------------------------


async def test_names_and_properties_answer_as_the_gateway_does(cluster: FakeCluster) -> None:
    assert await call(cluster, "GET", "/Names/game~day") == (404, b"")  # no FabricError body (§6.1)
    assert await call(cluster, "POST", "/Names/$/Create", {"Name": "fabric:/game/day"}) == (201, b"")
    status, body = await call(cluster, "POST", "/Names/$/Create", {"Name": "fabric:/game/day"})
    assert (status, json.loads(body)["Error"]["Code"]) == (409, "FABRIC_E_NAME_ALREADY_EXISTS")
    status, body = await call(cluster, "POST", "/Names/$/Create", {"Name": "game/day"})
    assert (status, json.loads(body)["Error"]["Code"]) == (400, "FABRIC_E_INVALID_NAME_URI")
    assert await call(cluster, "GET", "/Names/game~day") == (200, b"")
    put = {"PropertyName": "active", "Value": {"Kind": "Int64", "Data": "3"}}
    assert (await call(cluster, "PUT", "/Names/game/day/$/GetProperty", put))[0] == 200
    status, body = await call(cluster, "GET", "/Names/game~day/$/GetProperty?PropertyName=active")
    info = json.loads(body)
    assert status == 200
    assert info["Value"] == {"Kind": "Int64", "Data": "3"}
    assert info["Metadata"]["Parent"] == "fabric:/game/day"
    assert int(info["Metadata"]["SequenceNumber"]) > 0
    bad = {"PropertyName": "active", "Value": {"Kind": "Int64", "Data": 3}}  # Int64 data: a decimal string
    assert (await call(cluster, "PUT", "/Names/game~day/$/GetProperty", bad))[0] == 400
    assert (await call(cluster, "DELETE", "/Names/game~day/$/GetProperty?PropertyName=active"))[0] == 200
    status, body = await call(cluster, "DELETE", "/Names/game~day/$/GetProperty?PropertyName=active")
    assert (status, json.loads(body)["Error"]["Code"]) == (404, "FABRIC_E_PROPERTY_DOES_NOT_EXIST")
    status, body = await call(cluster, "GET", "/Names/no~such/$/GetProperty?PropertyName=x")
    assert (status, json.loads(body)["Error"]["Code"]) == (404, "FABRIC_E_NAME_DOES_NOT_EXIST")


async def test_a_batch_commits_all_or_nothing(cluster: FakeCluster) -> None:
    """The counter recipe of §6.4: compare-and-set by sequence number; a failed check commits nothing."""
    await call(cluster, "POST", "/Names/$/Create", {"Name": "fabric:/sfprogress/control"})
    batch = f"{NAME}/$/GetProperties/$/SubmitBatch"
    init = {"Operations": [{"Kind": "CheckExists", "PropertyName": "active", "Exists": False},
                           {"Kind": "Put", "PropertyName": "active", "Value": {"Kind": "Int64", "Data": "0"}}]}
    assert (await call(cluster, "POST", batch, init))[0] == 200
    status, body = await call(cluster, "POST", batch, init)  # initialised already: fails at index 0
    assert status == 409
    assert json.loads(body) == {"Kind": "Failed", "ErrorMessage": "FABRIC_E_PROPERTY_CHECK_FAILED",
                                "OperationIndex": 0}
    _, body = await call(cluster, "GET", f"{NAME}/$/GetProperty?PropertyName=active")
    sequence = json.loads(body)["Metadata"]["SequenceNumber"]
    bump = {"Operations": [{"Kind": "CheckSequence", "PropertyName": "active", "SequenceNumber": sequence},
                           {"Kind": "Put", "PropertyName": "active", "Value": {"Kind": "Int64", "Data": "1"}},
                           {"Kind": "Get", "PropertyName": "active", "IncludeValue": True}]}
    status, body = await call(cluster, "POST", batch, bump)
    answer = json.loads(body)
    assert status == 200
    assert answer["Kind"] == "Successful"
    assert answer["Properties"]["2"]["Value"] == {"Kind": "Int64", "Data": "1"}
    assert int(answer["Properties"]["2"]["Metadata"]["SequenceNumber"]) > int(sequence)
    status, _ = await call(cluster, "POST", batch, bump)  # the same sequence again: lost, nothing written
    assert status == 409
    half = {"Operations": [{"Kind": "Put", "PropertyName": "other", "Value": {"Kind": "String", "Data": "x"}},
                           {"Kind": "Delete", "PropertyName": "missing"}]}
    status, body = await call(cluster, "POST", batch, half)
    assert (status, json.loads(body)["OperationIndex"]) == (409, 1)
    assert cluster.control.names.get_property("sfprogress/control", "other") is None  # nothing committed
    missing_value = {"Operations": [{"Kind": "CheckValue", "PropertyName": "absent",
                                     "Value": {"Kind": "String", "Data": "x"}}]}
    assert (await call(cluster, "POST", batch, missing_value))[0] == 200  # a missing property passes (§6.3)
    status, body = await call(cluster, "POST", "/Names/no~such/$/GetProperties/$/SubmitBatch", missing_value)
    assert (status, json.loads(body)["Error"]["Code"]) == (404, "FABRIC_E_NAME_DOES_NOT_EXIST")


# --- the lever through the library ----------------------------------------------------------


async def test_engage_status_and_release(cluster: FakeCluster) -> None:
    async with ProgressClient(cluster.url) as client:
        assert await client.get_lever() == LeverState(False)
        state = await client.engage_lever("game day over", by="alice@ops")
        assert state.engaged
        assert state.reason == "game day over"
        assert state.by == "alice@ops"
        assert state.at is not None
        assert state.at.endswith("Z")
        assert str(state) == f"engaged by alice@ops at {state.at}: game day over"
        preflight = await client.check()
        assert not preflight.allowed
        assert "engaged by alice@ops" in preflight["lever"].detail
        assert (await client.engage_lever()).by is not None  # again: the reason rewritten, no error
        assert await client.release_lever() == LeverState(False)
        assert await client.release_lever() == LeverState(False)  # released twice: still released
        assert (await client.check())["lever"].value is False
    with pytest.raises(ValueError, match="at most 1000"):
        async with ProgressClient(cluster.url) as client:
            await client.engage_lever("x" * 1001)
    assert cluster.control.names.writes == 3  # two puts, one delete: the long reason sent nothing


async def test_an_engaged_lever_refuses_every_start_and_nothing_waives_it(cluster: FakeCluster) -> None:
    async with ProgressClient(cluster.url) as other:
        await other.engage_lever("stop!")
    async with ProgressClient(cluster.url, allow="all") as client:
        with pytest.raises(SafetyError, match=r"the stop lever is engaged by .*: stop!") as info:
            await client.start(FaultTarget.restart(SVC, P))
        assert info.value.rule == "lever"
        planned = await client.plan([FaultTarget.restart(SVC, P)])
        assert not planned[0].allowed
        assert planned[0].forbidden[0][0] == "lever"
        assert cluster.by_route["start"] == 0
        await client.release_lever()
        await client.start(FaultTarget.restart(SVC, P))
    assert cluster.by_route["start"] == 1


async def test_a_lever_that_cannot_be_read_refuses_the_start(cluster: FakeCluster) -> None:
    cluster.inject(*[Fault.error(500, "E_FAIL")] * 100, routes=["control"])
    async with ProgressClient(cluster.url, allow="all") as client:
        with pytest.raises(SafetyError, match="the stop lever could not be read"):
            await client.start(FaultTarget.restart(SVC, P))
    assert cluster.by_route["start"] == 0


async def test_the_lever_engaged_from_a_second_client_stops_a_running_campaign_within_a_tick(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    """Nothing more is started; what was started is waited for; the run ends stopped by the lever."""
    cluster.default_script = Script(duration=60)
    partitions = [uuid.uuid4() for _ in range(4)]
    cluster.add_service("fabric:/app/many", partitions)
    plan = [FaultTarget.restart("fabric:/app/many", p) for p in partitions]
    sent_at: list[float] = []
    engaged_at: list[float] = []
    seen_at: list[float] = []

    async def engage(other: ProgressClient) -> None:
        await other.clock.sleep(10)
        await other.engage_lever("stop the game day", by="bob@ops")
        engaged_at.append(cluster.clock())

    async def watch(run: FaultRun, client: ProgressClient) -> None:
        while run.aborted is None:
            await client.clock.sleep(0.1)
        seen_at.append(cluster.clock())

    async with (
        ProgressClient(cluster.url) as client,
        ProgressClient(cluster.url) as other,
        await FaultRun.create(tmp_path / "run.jsonl", client, plan, max_active=1,
                              on_start=lambda ref: sent_at.append(cluster.clock())) as run,
    ):
        await run.start_pending()
        tasks = [asyncio.ensure_future(engage(other)), asyncio.ensure_future(watch(run, client))]
        results = [r async for r in run.results(deadline=300)]
        await asyncio.gather(*tasks)
    assert run.stopped_by_lever
    assert not run.held_out
    assert "bob@ops" in str(run.aborted)
    assert "stop the game day" in str(run.aborted)
    assert len(sent_at) == 1  # the first fault only: the others were never sent
    assert 0 <= seen_at[0] - engaged_at[0] <= 3  # within one tick of the lever
    ok, *aborted = results
    assert ok.ok
    assert ok.state is OperationState.COMPLETED
    assert [r.reason for r in aborted] == [ResultReason.ABORTED] * 3
    assert cluster.by_route["start"] == 1
    assert cluster.by_route["cancel"] == 0


async def test_cancel_on_lever_cancels_the_active_operations(cluster: FakeCluster, tmp_path: Path) -> None:
    cluster.default_script = Script(duration=600)
    partitions = [uuid.uuid4() for _ in range(3)]
    cluster.add_service("fabric:/app/many", partitions)
    plan = [FaultTarget.restart("fabric:/app/many", p) for p in partitions]

    async def engage(other: ProgressClient) -> None:
        await other.clock.sleep(5)
        await other.engage_lever("abort!")

    async with (
        ProgressClient(cluster.url) as client,
        ProgressClient(cluster.url) as other,
        await FaultRun.create(tmp_path / "run.jsonl", client, plan, cancel_on_lever=True) as run,
    ):
        await run.start_pending()
        task = asyncio.ensure_future(engage(other))
        results = [r async for r in run.results(deadline=900)]
        await task
    assert run.stopped_by_lever
    assert cluster.by_route["cancel"] == 3
    assert {r.state for r in results} == {OperationState.CANCELLED}
    for p in partitions:
        assert cluster.operation(next(r.ref.operation_id for r in results if r.ref.partition_id == p)).cancelled_at


async def test_a_resumed_run_with_the_lever_engaged_starts_nothing(cluster: FakeCluster, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    async with ProgressClient(cluster.url) as client:
        run = await FaultRun.create(path, client, [FaultTarget.restart(SVC, P)])
        run.close()
        await client.engage_lever("freeze")
        async with await FaultRun.resume(path, client) as resumed:
            await resumed.start_pending()
            results = [r async for r in resumed.results()]
    assert resumed.stopped_by_lever
    assert [r.reason for r in results] == [ResultReason.ABORTED]
    assert cluster.by_route["start"] == 0


# --- the command line -----------------------------------------------------------------------


def test_the_lever_commands_and_a_refused_start(fake: ThreadedCluster, tmp_path: Path) -> None:  # noqa: F811
    fake.call(fake.cluster.add_service, SVC, [P])
    url = fake.cluster.url
    result = cli("lever", "status", "--endpoint", url)
    assert result.exit_code == 0, result.output
    assert "stop lever released" in result.output
    result = cli("lever", "engage", "--reason", "incident 42", "--endpoint", url)
    assert result.exit_code == 8, result.output
    assert "stop lever engaged by" in " ".join(result.output.split())
    assert "incident 42" in result.output
    result = cli("lever", "status", "-o", "json", "--endpoint", url)
    assert result.exit_code == 8
    state = json.loads(result.stdout)
    assert state["engaged"] is True
    assert state["reason"] == "incident 42"
    assert "@" in state["by"]
    result = cli("restart", SVC, str(P), "--allow", "all", "--endpoint", url)
    assert result.exit_code == 8, result.output
    assert "the stop lever is engaged" in " ".join(result.output.split())
    result = cli("check", "--endpoint", url)
    assert result.exit_code == 8
    assert "incident 42" in result.output
    plan = tmp_path / "plan.csv"
    plan.write_text(f"service_id,partition_id\n{SVC},{P}\n")
    result = cli("restart", "--from", str(plan), "--endpoint", url)
    assert result.exit_code == 8, result.output
    assert "stopped by the stop lever" in " ".join(result.output.split())
    assert fake.cluster.by_route["start"] == 0
    result = cli("lever", "release", "--endpoint", url)
    assert result.exit_code == 0
    assert "released" in result.output
    result = cli("restart", SVC, str(P), "--endpoint", url)
    assert result.exit_code == 0, result.output
