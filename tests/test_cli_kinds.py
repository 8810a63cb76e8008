"""The command line for every fault kind, end to end against a FakeCluster."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sf_progress import OperationState, OperationType
from sf_progress.testing import Script

from .test_cli import PID, ThreadedCluster, cli
from .test_cli_hardening import fake  # noqa: F401 - the fixture

SVC = "fabric:/app/svc"


def test_data_loss_wait_and_get(fake: ThreadedCluster) -> None:  # noqa: F811
    """data-loss --mode full --wait ends Completed (exit 0); get --type data-loss reads it again."""
    url = fake.cluster.url
    result = cli("data-loss", SVC, PID, "--mode", "full", "--wait", "-o", "json", "--endpoint", url)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["state"] == "Completed"
    assert body["invoke_data_loss_result"]["selected_partition"]["partition_id"] == PID
    (op,) = fake.cluster.operations.values()
    assert op.mode == "FullDataLoss"
    again = cli("get", SVC, PID, str(op.ref.operation_id), "--type", "data-loss", "-o", "json", "--endpoint", url)
    assert json.loads(again.stdout) == body


def test_quorum_loss_needs_a_duration_and_waits_for_it(fake: ThreadedCluster) -> None:  # noqa: F811
    """quorum-loss without --duration is a usage error; with it, the wait lasts at least that long."""
    url = fake.cluster.url
    assert cli("quorum-loss", SVC, PID, "--endpoint", url).exit_code == 2
    result = cli("quorum-loss", SVC, PID, "--duration", "20", "--mode", "all", "--wait", "--endpoint", url)
    assert result.exit_code == 0, result.output
    (op,) = fake.cluster.operations.values()
    assert (op.mode, op.script.duration) == ("AllReplicas", 20.0)


def test_node_transition_stop_and_wait_by_type(fake: ThreadedCluster) -> None:  # noqa: F811
    """node-transition NODE stop starts (instance id looked up); wait --type node-transition waits for it."""
    fake.do(setattr, fake.cluster, "default_script", Script(duration=3))
    url = fake.cluster.url
    started = cli("node-transition", "_Node_2", "stop", "--duration", "300", "-o", "json", "--endpoint", url)
    assert started.exit_code == 0, started.output
    record = json.loads(started.stdout)
    assert record == {"type": "node-transition", "node_name": "_Node_2", "operation_id": record["operation_id"]}
    done = cli("wait", "_Node_2", record["operation_id"], "--type", "node-transition", "-o", "json", "--endpoint", url)
    assert done.exit_code == 0
    assert json.loads(done.stdout)["node_transition_result"]["node_result"]["node_name"] == "_Node_2"
    assert cli("get", "_Node_2", "--type", "node-transition", "--endpoint", url).exit_code == 2  # one id missing


def test_node_transition_faulted_exit_code(fake: ThreadedCluster) -> None:  # noqa: F811
    """A transition on an unknown node ends Faulted: exit 3."""
    result = cli("node-transition", "_Nowhere", "start", "--instance-id", "5", "--wait", "--endpoint", fake.cluster.url)
    assert result.exit_code == 3


def test_watch_mixed_kinds_from_jsonl_and_csv(fake: ThreadedCluster, tmp_path: Path) -> None:  # noqa: F811
    """watch --from takes a type field (CLI or wire spelling) and node_name; result lines carry the type."""
    fake.do(setattr, fake.cluster, "default_script", Script(duration=2))
    from sf_progress import OperationRef

    refs = [
        OperationRef.restart("app~svc", PID, uuid.uuid4()),
        OperationRef.data_loss("app~svc", PID, uuid.uuid4()),
        OperationRef.quorum_loss("app~svc", PID, uuid.uuid4()),
        OperationRef.node_transition("_Node_1", uuid.uuid4()),
    ]
    for ref in refs:
        fake.do(fake.cluster.add_operation, ref)
    lines = [
        {"service_id": "app~svc", "partition_id": PID, "operation_id": str(refs[0].operation_id)},
        {"type": "data-loss", "service_id": "app~svc", "partition_id": PID, "operation_id": str(refs[1].operation_id)},
        {
            "type": "PartitionQuorumLoss",
            "service_id": "app~svc",
            "partition_id": PID,
            "operation_id": str(refs[2].operation_id),
        },
        {"type": "node-transition", "node_name": "_Node_1", "operation_id": str(refs[3].operation_id)},
        {"type": "mystery", "node_name": "x", "operation_id": str(uuid.uuid4())},
    ]
    source = tmp_path / "ops.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = cli("watch", "--from", str(source), "--endpoint", fake.cluster.url)
    records = {r["operation_id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert {r["type"] for r in records.values()} == {"restart", "data-loss", "quorum-loss", "node-transition"}
    assert records[str(refs[3].operation_id)]["node_name"] == "_Node_1"
    assert all(r["state"] == "Completed" for r in records.values())
    assert "line 5: unknown fault kind 'mystery'" in result.stderr
    assert result.exit_code == 1
    csv = tmp_path / "ops.csv"
    csv.write_text(f"type,node_name,operation_id\nnode-transition,_Node_1,{refs[3].operation_id}\n")
    again = cli("watch", "--from", str(csv), "--endpoint", fake.cluster.url)
    assert again.exit_code == 0
    assert json.loads(again.stdout)["type"] == "node-transition"


def test_start_many_of_a_kind_from_a_file(fake: ThreadedCluster, tmp_path: Path) -> None:  # noqa: F811
    """data-loss --from and node-transition --from start one per row and watch them all."""
    fake.do(setattr, fake.cluster, "default_script", Script(duration=1))
    rows = tmp_path / "losses.csv"
    rows.write_text("service_id,partition_id,mode\n" + "".join(f"app~svc{i},{uuid.uuid4()},full\n" for i in range(3)))
    result = cli("data-loss", "--from", str(rows), "--endpoint", fake.cluster.url)
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events].count("started") == 3
    assert {e["type"] for e in events} == {"data-loss"}
    nodes = tmp_path / "nodes.jsonl"
    nodes.write_text(
        "".join(json.dumps({"node_name": f"_Node_{i}", "transition": "stop", "duration": 300}) + "\n" for i in range(2))
    )
    result = cli("node-transition", "--from", str(nodes), "--allow", "domains,seed-quorum", "--endpoint",
                 fake.cluster.url)
    assert result.exit_code == 0, result.stderr
    kinds = [op.ref.kind for op in fake.cluster.operations.values()]
    assert kinds.count(OperationType.NODE_TRANSITION) == 2
    assert all(
        fake.cluster.state_of(op.ref.operation_id) is OperationState.COMPLETED
        for op in fake.cluster.operations.values()
    )


def test_one_start_command_per_kind_from_the_kind_table() -> None:
    """Each fault kind has its start command, whose arguments, options and --from columns are its parameters."""
    from click.testing import CliRunner

    from sf_progress import FaultTarget, OperationType
    from sf_progress.cli import main

    for kind in OperationType.fault_kinds():
        command = main.commands[kind.short_name]
        names = {param.name for param in command.params}
        help_text = CliRunner().invoke(main, [kind.short_name, "--help"], terminal_width=200).output
        for parameter in FaultTarget.parameters(kind):
            assert parameter.name in names, (kind, parameter.name)
            if parameter.flag:
                assert parameter.flag in help_text, (kind, parameter.flag)
            assert parameter.column in help_text, (kind, parameter.column)
