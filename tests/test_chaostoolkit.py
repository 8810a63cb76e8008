"""The Chaos Toolkit extension, run by the real ``chaos`` command against a real loopback FakeCluster."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sf_progress import OperationState
from sf_progress.testing import Fault, Script

from .test_cli import ThreadedCluster

SVC = "fabric:/app/svc"

pytestmark = pytest.mark.real_wait  # the toolkit runs in its own process, in real time
SERVICE = "fabric:/app/svc"
#: This interpreter's own ``chaos`` first (another venv's may be earlier on PATH, as in CI's Python 3.13 pass).
CHAOS = (str(Path(sys.executable).with_name("chaos")) if Path(sys.executable).with_name("chaos").exists()
         else shutil.which("chaos") or "chaos")
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "chaostoolkit" / "restart-and-recover.json"


@pytest.fixture
def fake() -> Iterator[ThreadedCluster]:
    threaded = ThreadedCluster(default_script=Script(duration=1.0, recovery=0.5))
    yield threaded
    threaded.close()


def activity(kind: str, module: str, func: str, **arguments: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "name": func.replace("_", "-"),
        "provider": {"type": "python", "module": f"sf_progress.chaostoolkit.{module}", "func": func,
                     "arguments": arguments},
    }


def experiment(method: list[dict[str, Any]], *, steady: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": "1.0.0",
        "title": "sf_progress test",
        "description": "a test experiment",
        "configuration": {"sf_endpoint": {"type": "env", "key": "SF_ENDPOINT"}},
        "method": method,
        "rollbacks": [activity("action", "rollbacks", "cancel_started_faults")],
    }
    if steady:
        body["steady-state-hypothesis"] = {"title": "healthy", "probes": steady}
    return body


def chaos_run(tmp_path: Path, url: str, body: dict[str, Any] | Path) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    path = body if isinstance(body, Path) else tmp_path / "experiment.json"
    if not isinstance(body, Path):
        path.write_text(json.dumps(body))
    journal = tmp_path / "journal.json"
    result = subprocess.run(
        [CHAOS, "--log-file", str(tmp_path / "chaostoolkit.log"), "run", "--journal-path", str(journal), str(path)],
        env={**os.environ, "SF_ENDPOINT": url, "SF_PARTITION": str(uuid.UUID(int=7))},
        capture_output=True,
        text=True,
        timeout=240,
    )
    return json.loads(journal.read_text()), result


def recovered_probe(pid: str) -> dict[str, Any]:
    probe = activity("probe", "probes", "partition_recovered", service_id=SERVICE, partition_id=pid, timeout=10)
    probe["tolerance"] = True
    return probe


@pytest.mark.parametrize("kind", ["restart", "data_loss", "quorum_loss", "node", "any"])
def test_a_passing_experiment_for_each_fault_kind(fake: ThreadedCluster, tmp_path: Path, kind: str) -> None:
    """Steady state, the fault (waited for, until recovered), steady state again: completed; one start per action."""
    pid = str(uuid.uuid4())
    fake.do(fake.cluster.add_service, SERVICE, [pid])
    method = {
        "restart": [activity("action", "actions", "restart_partition", service_id=SERVICE, partition_id=pid,
                             until_recovered=True, timeout=60)],
        "data_loss": [activity("action", "actions", "induce_data_loss", service_id=SERVICE, partition_id=pid,
                               mode="FullDataLoss", until_recovered=True, timeout=60)],
        "quorum_loss": [activity("action", "actions", "induce_quorum_loss", service_id=SERVICE, partition_id=pid,
                                 duration=2, until_recovered=True, timeout=60)],
        "node": [activity("action", "actions", "stop_node", node_name="_Node_2", duration=300, timeout=60),
                 activity("action", "actions", "start_node", node_name="_Node_2", until_recovered=True, timeout=60)],
        # The generic action: any kind, by its short name and its parameters (FaultTarget.of).
        "any": [activity("action", "actions", "inject_fault", type="restart", until_recovered=True, timeout=60,
                         parameters={"service_id": SERVICE, "partition_id": pid, "mode": "OnlyActiveSecondaries"})],
    }[kind]
    journal, result = chaos_run(tmp_path, fake.cluster.url, experiment(method, steady=[recovered_probe(pid)]))
    assert journal["status"] == "completed", result.stderr
    assert not journal["deviated"]
    assert [run["status"] for run in journal["run"]] == ["succeeded"] * len(method)
    outputs = [run["output"] for run in journal["run"]]
    assert all(output["state"] == "Completed" for output in outputs)
    assert fake.cluster.by_route["start"] == len(method)  # exactly one start per action
    assert {str(op) for op in fake.cluster.operations} == {output["operation_id"] for output in outputs}
    if kind != "node" or len(outputs) > 1:
        assert outputs[-1]["recovered"] is True


def test_a_faulted_action_fails_and_the_rollback_cancels_what_is_still_running(
    fake: ThreadedCluster, tmp_path: Path
) -> None:
    """A restart left running, then a data loss that Faults: the action fails, the run deviates, the restart is cancelled."""
    pid, other = str(uuid.uuid4()), str(uuid.uuid4())
    fake.do(fake.cluster.add_service, SERVICE, [pid, other])
    fake.do(setattr, fake.cluster, "planner", lambda ref: (
        Script(duration=1, outcome=OperationState.FAULTED) if ref.kind.value == "PartitionDataLoss"
        else Script(duration=600)
    ))
    method = [
        activity("action", "actions", "restart_partition", service_id=SERVICE, partition_id=pid, wait=False),
        activity("action", "actions", "induce_data_loss", service_id=SERVICE, partition_id=other, timeout=30),
    ]
    steady = [recovered_probe(pid)]
    steady[0]["provider"]["arguments"]["timeout"] = 2
    journal, result = chaos_run(tmp_path, fake.cluster.url, experiment(method, steady=steady))
    assert journal["deviated"] or journal["status"] == "failed", journal["status"]
    assert [run["status"] for run in journal["run"]] == ["succeeded", "failed"]
    assert "data loss ended Faulted" in journal["run"][1]["exception"][-1]
    assert fake.cluster.by_route["cancel"] == 1  # the rollback cancelled the restart still running
    (rollback,) = journal["rollbacks"]
    assert [c["type"] for c in rollback["output"]] == ["PartitionRestart"]
    assert "Traceback" not in result.stdout + result.stderr


def test_the_action_enforces_its_timeout(fake: ThreadedCluster, tmp_path: Path) -> None:
    """A fault that runs longer than the action's timeout: the action fails after that long, saying so."""
    fake.do(setattr, fake.cluster, "default_script", Script(duration=600))
    method = [activity("action", "actions", "restart_partition", service_id=SERVICE, partition_id=str(uuid.uuid4()),
                       timeout=2)]
    journal, _ = chaos_run(tmp_path, fake.cluster.url, experiment(method))
    (run,) = journal["run"]
    assert run["status"] == "failed"
    assert "did not end within 2s (its timeout)" in run["exception"][-1]
    assert run["duration"] < 30


def test_an_unreachable_endpoint_is_a_clear_failure(tmp_path: Path) -> None:
    """Nothing listens there: ActivityFailed with what went wrong, no traceback on the console."""
    method = [activity("action", "actions", "restart_partition", service_id=SERVICE, partition_id=str(uuid.uuid4()))]
    journal, result = chaos_run(tmp_path, "http://127.0.0.1:9", experiment(method))
    (run,) = journal["run"]
    assert run["status"] == "failed"
    assert "partition restart was not started" in run["exception"][-1]
    assert "127.0.0.1:9" in run["exception"][-1]
    assert "Traceback" not in result.stdout + result.stderr
    log = (tmp_path / "chaostoolkit.log").read_text()
    assert "attempt 1 failed (cannot reach http://127.0.0.1:9" in log  # the retries, where users look


def test_the_library_logger_level_is_set_only_while_an_activity_runs(fake: ThreadedCluster) -> None:
    """Importing the extension leaves sf_progress's logger as it was; an activity makes its records, then not.

    (Issue 34, item 3: the level was raised for the whole process as the extension was imported.)
    """
    import logging

    from sf_progress.chaostoolkit import _connect
    from sf_progress.chaostoolkit.probes import fault_operations

    library = logging.getLogger("sf_progress")
    assert library.level == logging.NOTSET
    seen: list[int] = []
    with _connect.client_for({"sf_endpoint": fake.url}, None):
        seen.append(library.level)
    assert seen == [logging.DEBUG]
    assert library.level == logging.NOTSET
    assert fault_operations(configuration={"sf_endpoint": fake.url}) == []
    assert library.level == logging.NOTSET
    library.setLevel(logging.WARNING)  # the application's choice stands
    try:
        with _connect.client_for({"sf_endpoint": fake.url}, None):
            assert library.level == logging.WARNING
    finally:
        library.setLevel(logging.NOTSET)


def test_the_example_experiment_runs(fake: ThreadedCluster, tmp_path: Path) -> None:
    """examples/chaostoolkit/restart-and-recover.json, as the README runs it."""
    fake.do(fake.cluster.add_service, "fabric:/app/svc", [str(uuid.UUID(int=7))])
    journal, result = chaos_run(tmp_path, fake.cluster.url, EXAMPLE)
    assert journal["status"] == "completed", result.stderr
    assert journal["run"][0]["output"]["recovered"] is True
    assert "sf_progress: started" in (tmp_path / "chaostoolkit.log").read_text()  # our log reaches the toolkit's


def test_every_verified_kind_from_the_toolkit(fake: ThreadedCluster, tmp_path: Path) -> None:
    """Each of the seven actions of ``faults``: applied and verified (recovered, for two); the rollback cancels none."""
    pid, web = str(uuid.uuid4()), str(uuid.uuid4())
    fake.do(fake.cluster.add_service, SERVICE, [pid])
    fake.call(fake.cluster.add_service, "fabric:/app/web", [web], stateful=False)
    fake.do(setattr, fake.cluster.replicas, "instance_count", 3)
    fake.do(setattr, fake.cluster.replicas, "delay", 0.1)
    fake.do(setattr, fake.cluster.replicas, "rebuild", 0.6)
    common = {"timeout": 60}
    method = [
        activity("action", "faults", "restart_replica", service_id=SERVICE, partition_id=pid, **common),
        activity("action", "faults", "remove_replica", service_id=SERVICE, partition_id=pid, replica="secondary",
                 force="true", until_recovered=True, **common),
        activity("action", "faults", "restart_code_package", service_id=SERVICE, partition_id=pid, **common),
        activity("action", "faults", "move_primary", service_id=SERVICE, partition_id=pid, **common),
        activity("action", "faults", "move_secondary", service_id=SERVICE, partition_id=pid, **common),
        activity("action", "faults", "move_instance", service_id="fabric:/app/web", partition_id=web, **common),
        activity("action", "faults", "restart_node", node_name="_Node_4", until_recovered=True, **common),
    ]
    journal, result = chaos_run(tmp_path, fake.cluster.url, experiment(method))
    assert journal["status"] == "completed", result.stderr
    outputs = [run["output"] for run in journal["run"]]
    assert [run["status"] for run in journal["run"]] == ["succeeded"] * len(method), outputs
    assert all(o["state"] == "Completed" and o["signal"] for o in outputs), outputs
    assert [o.get("recovered") for o in outputs] == [None, True, None, None, None, None, True]
    assert [o["type"] for o in outputs] == [
        "ReplicaRestart", "ReplicaRemove", "CodePackageRestart", "PrimaryMove", "SecondaryMove", "InstanceMove",
        "NodeRestart",
    ]
    assert all(o["baseline"]["node_name"] for o in outputs)
    assert fake.cluster.by_route["fault"] == len(method)  # one each
    assert fake.cluster.by_route["cancel"] == 0  # nothing of these is cancelled


def safety_control(interval: float = 1.0) -> dict[str, Any]:
    return {"name": "sf_progress-safety", "provider": {
        "type": "python", "module": "sf_progress.chaostoolkit.controls.safety", "arguments": {"interval": interval}}}


def test_the_safety_control_keeps_an_experiment_from_starting_during_an_upgrade(
    fake: ThreadedCluster, tmp_path: Path
) -> None:
    pid = str(uuid.uuid4())
    fake.do(fake.cluster.add_service, SERVICE, [pid])
    fake.do(setattr, fake.cluster.control, "upgrade_state", "RollingForwardInProgress")
    body = experiment([activity("action", "actions", "restart_partition", service_id=SERVICE, partition_id=pid)])
    body["controls"] = [safety_control()]
    journal, result = chaos_run(tmp_path, fake.cluster.url, body)
    assert journal["status"] == "interrupted", result.stderr
    assert fake.cluster.by_route["start"] == 0  # nothing of it ran
    (extension,) = [e for e in journal.get("extensions", []) if e["name"] == "sf_progress-safety"]
    assert "a cluster upgrade is in progress" in extension["interrupted"]
    body["configuration"]["sf_allow"] = "upgrade"  # waived: it runs
    journal, result = chaos_run(tmp_path, fake.cluster.url, body)
    assert journal["status"] == "completed", result.stderr


def test_the_safety_control_interrupts_a_running_experiment_when_a_rule_closes(
    fake: ThreadedCluster, tmp_path: Path
) -> None:
    """SF Chaos starts while our fault runs: the experiment is interrupted within a check (the toolkit plays
    rollbacks of an interrupted run only with ``--rollback-strategy always``)."""
    import threading

    pid = str(uuid.uuid4())
    fake.do(fake.cluster.add_service, SERVICE, [pid])
    fake.do(setattr, fake.cluster, "default_script", Script(duration=30.0))
    body = experiment([activity("action", "actions", "restart_partition", service_id=SERVICE, partition_id=pid,
                                timeout=60)])
    body["controls"] = [safety_control()]
    timer = threading.Timer(4.0, lambda: fake.do(setattr, fake.cluster.control, "chaos_status", "Running"))
    timer.start()
    started = time.monotonic()
    try:
        journal, result = chaos_run(tmp_path, fake.cluster.url, body)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 25  # long before the 30 s fault would have ended
    assert journal["status"] == "interrupted", result.stderr
    (extension,) = [e for e in journal.get("extensions", []) if e["name"] == "sf_progress-safety"]
    assert "SF Chaos is running" in extension["interrupted"]
    assert "Received the exit signal: 20" in result.stderr  # the toolkit's graceful exit


def test_chaos_discover_lists_every_activity(tmp_path: Path) -> None:
    """`chaos discover --no-install sf_progress`: every action, probe and rollback, with its arguments."""
    out = tmp_path / "discovery.json"
    subprocess.run([CHAOS, "--log-file", str(tmp_path / "chaostoolkit.log"), "discover", "--no-install",
                    "--no-system-info", "--discovery-path", str(out), "sf_progress"],
                   check=True, capture_output=True, timeout=120)
    activities = {a["name"]: a for a in json.loads(out.read_text())["activities"]}
    assert set(activities) == {
        "restart_partition", "induce_data_loss", "induce_quorum_loss", "stop_node", "start_node", "inject_fault",
        "fault_progress", "fault_operations", "partition_recovered", "node_recovered",
        "cancel_fault", "cancel_started_faults", "start_chaos", "stop_chaos", "chaos_run_passed",
        "restart_replica", "remove_replica", "restart_code_package", "move_primary", "move_secondary",
        "move_instance", "restart_node", "run_scenario", "scenario_passed",
    }
    args = [a["name"] for a in activities["induce_quorum_loss"]["arguments"]]
    # configuration and secrets are the toolkit's own (keyword-only): not arguments an experiment gives.
    assert args == ["service_id", "partition_id", "duration", "mode", "wait", "until_recovered", "timeout"]
    # Every argument has a type the toolkit understands (issue 35, item 12: all were "object", and
    # `chaos init` crashed building one).
    portable = {"string", "number", "integer", "boolean", "mapping", "list"}
    for activity_ in activities.values():
        for argument in activity_["arguments"]:
            assert argument.get("type") in portable, (activity_["name"], argument)
    assert activities["partition_recovered"]["type"] == "probe"
    assert all(a["doc"] for a in activities.values())


def test_the_extension_costs_import_sf_progress_nothing() -> None:
    """`import sf_progress` imports neither the extension nor chaoslib."""
    code = "import sys, sf_progress; print('chaoslib' in sys.modules, 'sf_progress.chaostoolkit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("configuration", "secrets", "expect"),
    [
        ({}, {}, {"endpoint": "http://localhost:19080", "cert": None, "verify": True}),
        ({"endpoint": "https://c:19080", "verify_tls": False}, {}, {"endpoint": "https://c:19080", "verify": False}),
        ({"sf_endpoint": "https://c:19080", "sf_ca": "CA"}, {"pem_path": "admin.pem"},
         {"cert": ("admin.pem",), "verify": "CA"}),
        ({"sf_endpoint": "https://c:19080", "sf_server_thumbprints": "AB" * 20}, {"cert_path": "c.crt", "key_path": "c.key"},
         {"cert": ("c.crt", "c.key"), "pins": 1}),
        ({"sf_endpoint": "https://c:19080"}, {"pfx_path": "a.pfx", "pfx_password": "pw"}, {"cert": ("a.pfx",), "password": "pw"}),
        ({"sf_endpoint": "https://c:19080"}, {"token": "t0k"}, {"token": "t0k"}),
    ],
)
def test_connection_settings(configuration: dict[str, Any], secrets: dict[str, Any], expect: dict[str, Any]) -> None:
    """configuration/secrets keys (sf_* and the sfctl-style ones) map to the client's options."""
    from sf_progress.chaostoolkit._connect import connection

    opts = connection(configuration, secrets).client_options()
    tls = opts["tls"]
    got = {
        "endpoint": opts["endpoint"],
        "cert": tls.cert,
        "verify": tls.verify,
        "pins": len(tls.server_thumbprints),
        "password": tls.cert_password,
        "token": opts["token_provider"]() if opts["token_provider"] is not None else None,
    }
    assert {k: got[k] for k in expect} == expect


def test_pem_content_and_config_path(tmp_path: Path) -> None:
    """pem_content is written to a private temporary file; config_path reads sfctl-style JSON settings."""
    from sf_progress.chaostoolkit._connect import connection

    def options(configuration: dict[str, Any], secrets: dict[str, Any]) -> dict[str, Any]:
        return connection(configuration, secrets).client_options()

    settings = tmp_path / "sf.json"
    settings.write_text(json.dumps({"endpoint": "https://from-file:19080", "verify_tls": "false"}))
    opts = options({"config_path": str(settings)}, {"pem_content": "-----BEGIN CERTIFICATE-----\n"})
    assert opts["endpoint"] == "https://from-file:19080"
    assert opts["tls"].verify is False
    (pem,) = opts["tls"].cert
    assert Path(pem).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert oct(Path(pem).stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ValueError, match="config_path"):
        options({"config_path": str(tmp_path / "missing.json")}, {})


@pytest.mark.parametrize(
    ("configuration", "secrets", "flags", "words"),
    [
        ({}, {"cert_path": "c.crt"}, ["--cert", "c.crt"], "go together"),
        ({}, {"pem_path": "a.pem", "pfx_path": "a.pfx"}, ["--pem", "a.pem", "--pfx", "a.pfx"], "choose one"),
        ({"verify_tls": False, "sf_ca": "ca.pem"}, {}, ["--no-verify", "--ca", "ca.pem"], "cannot be combined"),
        ({}, {"token": "a b"}, ["--token-env", "SF_TEST_TOKEN"], "spaces"),
    ],
)
def test_the_cli_and_the_toolkit_refuse_the_same_settings(
    configuration: dict[str, Any], secrets: dict[str, Any], flags: list[str], words: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One Connection checks both: a certificate without its key is refused by both, in the same words."""
    from click.testing import CliRunner

    from sf_progress.chaostoolkit._connect import client_for
    from sf_progress.cli import main

    with pytest.raises(ValueError, match=words), client_for(configuration, secrets):
        pass
    monkeypatch.setenv("SF_TEST_TOKEN", "a b")
    result = CliRunner().invoke(main, ["get", "--endpoint", "https://c:19080", *flags, SVC, str(uuid.uuid4()),
                                       str(uuid.uuid4())])
    assert result.exit_code == 2
    assert words in result.output


def test_inject_fault_names_what_a_kind_takes(fake: ThreadedCluster) -> None:
    """The generic action refuses an unknown kind or parameter in one line, and sends nothing."""
    from chaoslib.exceptions import ActivityFailed

    from sf_progress.chaostoolkit.actions import inject_fault

    configuration = {"sf_endpoint": fake.cluster.url}
    with pytest.raises(ActivityFailed, match="takes no bogus"):
        inject_fault("restart", {"service_id": SERVICE, "partition_id": str(uuid.uuid4()), "bogus": 1},
                     configuration=configuration)
    with pytest.raises(ActivityFailed, match="unknown fault kind 'nap'"):
        inject_fault("nap", {}, configuration=configuration)
    with pytest.raises(ActivityFailed, match="missing duration"):
        inject_fault("quorum-loss", {"service_id": SERVICE, "partition_id": str(uuid.uuid4())},
                     configuration=configuration)
    assert fake.cluster.requests == 0


def test_flags_given_as_text_mean_what_they_say(fake: ThreadedCluster) -> None:
    """"false" is false: no wait, no recovery wait, a graceful cancel; a flag that is no flag sends nothing.

    (Issue 35, item 10: ``until_recovered="false"`` started the fault, then raised a raw ``TypeError``;
    ``force="false"`` sent ``Force=true``; ``wait="false"`` waited.)
    """
    from chaoslib.exceptions import ActivityFailed

    from sf_progress.chaostoolkit.actions import restart_partition
    from sf_progress.chaostoolkit.rollbacks import cancel_fault

    configuration = {"sf_endpoint": fake.cluster.url}
    fake.do(setattr, fake.cluster, "default_script", Script(duration=30))
    out = restart_partition(SERVICE, str(uuid.uuid4()), wait="false", until_recovered="false",  # type: ignore[arg-type]
                            configuration=configuration)
    assert out["state"] == "Running"  # returned at once: it did not wait
    cancel_fault(out["operation_id"], force="false", configuration=configuration)  # type: ignore[arg-type]
    cancels = fake.do(lambda: [path for method, path in fake.cluster.seen if "Cancel" in path])
    assert len(cancels) == 1
    assert "Force=false" in cancels[0]
    before = fake.cluster.requests
    with pytest.raises(ActivityFailed, match="until_recovered must be true or false"):
        restart_partition(SERVICE, str(uuid.uuid4()), until_recovered="maybe",  # type: ignore[arg-type]
                          configuration=configuration)
    assert fake.cluster.requests == before


def test_sf_progress_info_lines_reach_the_toolkit_log(fake: ThreadedCluster, tmp_path: Path) -> None:
    """A retried start (INFO: "attempt 1 failed ...; retrying") is in chaostoolkit.log.

    (Issue 35, item 13: the bridge sat on a logger whose effective level was the root's WARNING.)
    """
    from sf_progress.testing import Fault

    pid = str(uuid.uuid4())
    fake.do(lambda: fake.cluster.inject(Fault.service_unavailable(), routes=["start"]))
    method = [activity("action", "actions", "restart_partition", service_id=SERVICE, partition_id=pid, timeout=60)]
    journal, result = chaos_run(tmp_path, fake.cluster.url, experiment(method))
    assert journal["status"] == "completed", result.stderr
    log = (tmp_path / "chaostoolkit.log").read_text()
    assert "attempt 1 failed" in log
    assert "retrying in" in log


def test_pem_content_is_one_private_file_per_content_removed_when_the_activity_ends(tmp_path: Path) -> None:
    """Two activities with one pem_content share one 0600 file; it is gone once the last one ends.

    (Issue 35, item 14: one private-key file per call, kept until the process exited.)
    """
    import glob
    import tempfile

    import trustme

    from sf_progress.chaostoolkit import _connect

    pattern = os.path.join(tempfile.gettempdir(), "sf_progress-*.pem")
    before = set(glob.glob(pattern))
    pem = trustme.CA().issue_cert("client.example").private_key_and_cert_chain_pem.bytes().decode()
    secrets = {"pem_content": pem}
    configuration = {"sf_endpoint": "https://c:19080"}
    with _connect.client_for(configuration, secrets), _connect.client_for(configuration, secrets):
        written = set(glob.glob(pattern)) - before
        assert len(written) == 1  # one per distinct content
        (path,) = written
        assert oct(Path(path).stat().st_mode & 0o777) == "0o600"
    assert not Path(path).exists()  # removed when the last activity ended
    assert set(glob.glob(pattern)) <= before  # nothing new left (another test's file may have gone meanwhile)


def test_an_infinite_timeout_is_no_overflow(fake: ThreadedCluster) -> None:
    """timeout=inf on a probe or a rollback is "the longest", not an OverflowError; a bad one a clear failure.

    (Issue 35, item 11: ``timeout=inf`` raised ``OverflowError``.)
    """
    from chaoslib.exceptions import ActivityFailed

    from sf_progress.chaostoolkit.probes import fault_operations
    from sf_progress.chaostoolkit.rollbacks import cancel_started_faults

    configuration = {"sf_endpoint": fake.cluster.url}
    assert fault_operations(timeout=float("inf"), configuration=configuration) == []
    assert cancel_started_faults(timeout=float("inf"), configuration=configuration) == []
    with pytest.raises(ActivityFailed, match="timeout must be"):
        cancel_started_faults(timeout=float("nan"), configuration=configuration)


def test_a_start_interrupted_in_flight_is_cancelled_by_the_rollback(fake: ThreadedCluster) -> None:
    """Ctrl-C while the start is in flight (the cluster takes it): cancel_started_faults cancels it.

    (Issue 35, item 11: the rollback sent no cancel, and the fault kept running.)
    """
    fake.do(setattr, fake.cluster, "default_script", Script(duration=600))
    fake.do(lambda: fake.cluster.inject(Fault.late(30), routes=["start"]))  # taken at once, answered late
    script = textwrap.dedent(f"""
        import json, sys, uuid
        from sf_progress.chaostoolkit.actions import restart_partition
        from sf_progress.chaostoolkit.rollbacks import cancel_started_faults
        configuration = {{"sf_endpoint": {fake.url!r}}}
        print("starting", flush=True)
        try:
            restart_partition("fabric:/app/svc", str(uuid.uuid4()), configuration=configuration)
        except KeyboardInterrupt:
            pass
        print(json.dumps(cancel_started_faults(configuration=configuration)), flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "starting"
    deadline = time.monotonic() + 30
    while fake.cluster.by_route["start"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    assert len(fake.cluster.operations) == 1  # the cluster has taken it; its answer is held back
    proc.send_signal(signal.SIGINT)  # the start is in flight
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    (op,) = fake.cluster.operations.values()
    (cancelled,) = json.loads(out)
    assert cancelled == {"operation_id": str(op.ref.operation_id), "type": "PartitionRestart"}  # the docstring's shape
    assert fake.cluster.by_route["cancel"] == 1


def test_the_action_timeout_covers_the_start(fake: ThreadedCluster) -> None:
    """A start that hangs: restart_partition(timeout=3) fails within seconds, not after the retries' minute.

    (Issue 35, item 11: restart_partition(timeout=3) failed after 55-131 s.)
    """
    from chaoslib.exceptions import ActivityFailed

    from sf_progress.chaostoolkit.actions import restart_partition

    fake.do(lambda: fake.cluster.inject(Fault.slow(120), routes=["start"], times=10))
    began = time.monotonic()
    with pytest.raises(ActivityFailed, match="was not started"):
        restart_partition(SERVICE, str(uuid.uuid4()), timeout=1, configuration={"sf_endpoint": fake.url})
    assert time.monotonic() - began < 20  # the timeout, plus at most one request's margin
    assert fake.cluster.by_route["start"] == 1  # no retry started past the timeout


def test_an_unlisted_operation_is_no_made_up_404(fake: ThreadedCluster) -> None:
    """fault_progress of an operation the list does not hold says so, not "HTTP 404" (none was received)."""
    from chaoslib.exceptions import ActivityFailed

    from sf_progress.chaostoolkit.probes import fault_progress

    with pytest.raises(ActivityFailed) as caught:
        fault_progress(str(uuid.uuid4()), configuration={"sf_endpoint": fake.url})
    assert "is not in the cluster's fault-operation list" in str(caught.value)
    assert "404" not in str(caught.value)


def test_a_target_that_does_not_recover_makes_the_run_deviate_not_fail(fake: ThreadedCluster, tmp_path: Path) -> None:
    """The example's shape: the fault completes, the partition never comes back. The action succeeds with
    ``recovered: false``; the hypothesis after the method fails: the run **deviated** (issue 34, item 2).
    The timings control keeps the fault's time to end and to recover in the journal's extensions.
    """
    pid = str(uuid.uuid4())
    fake.do(fake.cluster.add_service, SERVICE, [pid])
    steady = [recovered_probe(pid)]
    steady[0]["provider"]["arguments"]["timeout"] = 1
    method = [activity("action", "actions", "restart_partition", service_id=SERVICE, partition_id=pid,
                       until_recovered=True, timeout=4)]
    body = experiment(method, steady=steady)
    body["controls"] = [{"name": "sf_progress-timings",
                         "provider": {"type": "python", "module": "sf_progress.chaostoolkit.controls.timings"}}]
    fake.do(setattr, fake.cluster, "default_script", Script(duration=0.5, recovery=float("inf")))
    journal, result = chaos_run(tmp_path, fake.cluster.url, body)
    assert journal["deviated"] is True, journal["status"]
    assert journal["status"] in ("completed", "deviated"), journal["status"]
    (run,) = journal["run"]
    assert run["status"] == "succeeded"  # the fault was applied: no method-activity failure
    assert run["output"]["recovered"] is False
    assert run["output"]["recovery_reason"]
    assert run["output"]["time_to_end_s"] < run["output"]["elapsed_s"]
    (timings,) = [e for e in journal.get("extensions", []) if e.get("name") == "sf_progress-timings"]
    (fault,) = timings["faults"]
    assert fault["operation_id"] == run["output"]["operation_id"]
    assert fault["recovered"] is False
    assert fault["time_to_end_s"] == run["output"]["time_to_end_s"]
    assert "Traceback" not in result.stdout + result.stderr
    help_text = subprocess.run([CHAOS, "run", "--help"], capture_output=True, text=True, timeout=60).stdout
    if "--output" in help_text:  # chaostoolkit >= 1.21 (Python >= 3.12): its agent verdict says the same
        fresh = str(uuid.uuid4())  # the first partition never came back: another one, healthy before
        fake.do(fake.cluster.add_service, SERVICE, [fresh])
        (tmp_path / "experiment.json").write_text(json.dumps(body).replace(pid, fresh))
        agent = subprocess.run(
            [CHAOS, "--log-file", str(tmp_path / "agent.log"), "run", "--output", "agent", "--journal-path",
             str(tmp_path / "agent-journal.json"), str(tmp_path / "experiment.json")],
            env={**os.environ, "SF_ENDPOINT": fake.cluster.url}, capture_output=True, text=True, timeout=240,
        )
        verdict = json.loads(agent.stdout)
        assert (verdict["outcome"], verdict["conclusive"]) == ("deviated", True), verdict


def test_service_fabric_chaos_from_the_toolkit(fake: ThreadedCluster) -> None:
    """start_chaos / stop_chaos actions (confirmed) and the chaos_run_passed probe (issue 33, item 4)."""
    from chaoslib.exceptions import ActivityFailed

    from sf_progress.chaostoolkit.actions import start_chaos, stop_chaos
    from sf_progress.chaostoolkit.probes import chaos_run_passed

    configuration = {"sf_endpoint": fake.url}
    started = start_chaos(time_to_run=600, max_concurrent_faults=2, include_applications=["fabric:/app"],
                          configuration=configuration)
    assert started["status"] == "Running"
    sent = fake.call(lambda: dict(fake.cluster.control.chaos_parameters))
    assert sent["MaxConcurrentFaults"] == 2
    with pytest.raises(ActivityFailed, match="FABRIC_E_CHAOS_ALREADY_RUNNING"):
        start_chaos(configuration=configuration)
    assert chaos_run_passed(configuration=configuration) is True
    fake.call(lambda: fake.cluster.control.chaos.validation_failures.add(0))
    time.sleep(1.0)  # the first iteration (at 0.5 s) and its validation failure (0.25 s later)
    assert chaos_run_passed(configuration=configuration) is False
    assert stop_chaos(configuration=configuration)["status"] == "Stopped"
    with pytest.raises(ActivityFailed, match="bad arguments"):
        start_chaos(time_to_run=0, configuration=configuration)


def test_an_action_a_safety_rule_refuses_fails_and_leaves_nothing_to_roll_back(fake: ThreadedCluster) -> None:
    """Refused before sending (a rule, or a fault that does not apply): ActivityFailed, nothing recorded as started."""
    from chaoslib.exceptions import ActivityFailed

    from sf_progress.chaostoolkit._common import STARTED
    from sf_progress.chaostoolkit.actions import restart_partition
    from sf_progress.chaostoolkit.faults import restart_replica

    pid = str(uuid.uuid4())
    fake.do(fake.cluster.add_service, SERVICE, [pid])
    fake.call(fake.cluster.add_service, "fabric:/app/cache", [str(uuid.UUID(int=3))], persisted=False)
    fake.do(setattr, fake.cluster.control, "upgrade_state", "RollingForwardInProgress")
    configuration = {"sf_endpoint": fake.cluster.url}
    before = len(STARTED)
    with pytest.raises(ActivityFailed, match="refused by the safety rule 'upgrade'"):
        restart_partition(SERVICE, pid, configuration=configuration)
    with pytest.raises(ActivityFailed, match="remove it instead"):
        restart_replica("fabric:/app/cache", str(uuid.UUID(int=3)), configuration={**configuration, "sf_allow": "all"})
    assert len(STARTED) == before
    assert fake.cluster.by_route["start"] == fake.cluster.by_route["fault"] == 0
    result = restart_partition(SERVICE, pid, wait=False, configuration={**configuration, "sf_allow": "upgrade"})
    assert result["state"] == "Running"


@pytest.mark.parametrize("heals", [True, False])
def test_a_failover_scenario_as_one_method_step(fake: ThreadedCluster, tmp_path: Path, heals: bool) -> None:
    """The scenario's verdict through the real CLI: passed, or -- a validation failed -- deviated, not inconclusive."""
    pids = [str(uuid.uuid4()) for _ in range(2)]
    fake.do(fake.cluster.add_service, SERVICE, pids)
    if not heals:
        fake.do(setattr, fake.cluster, "default_script", Script(duration=1.0, recovery=float("inf")))
    journal = str(tmp_path / "scenario.jsonl")
    scenario = {"service": SERVICE, "faults": ["restart"], "rounds": 2, "wait_between": 0,
                "stabilization_timeout": 4, "seed": 3}
    probe = activity("probe", "probes", "scenario_passed", journal=journal)
    probe["tolerance"] = True
    body = experiment([activity("action", "scenarios", "run_scenario", scenario=scenario, journal=journal)],
                      steady=[probe])
    run_journal, result = chaos_run(tmp_path, fake.cluster.url, body)
    output = run_journal["run"][0]["output"]
    if heals:
        assert run_journal["status"] == "completed", result.stderr
        assert not run_journal["deviated"]
        assert output["verdict"] == "passed"
        assert output["faults"] == 2
    else:
        assert run_journal["deviated"], result.stderr
        assert run_journal["run"][0]["status"] == "succeeded"  # a finding, not an action that failed
        assert output["verdict"] == "failed"
        assert any("InBuild" in line or "unhealthy" in line for line in output["evidence"])
    assert "sf_progress: scenario" in (tmp_path / "chaostoolkit.log").read_text()
