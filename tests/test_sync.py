"""``sf_progress.sync``: the blocking client, from threads, from a running loop's thread, Ctrl-C, close."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from sf_progress import (
    Event,
    FaultProgress,
    FaultTarget,
    OperationRef,
    OperationState,
    Outcome,
    OutcomeKind,
    ProgressClient,
    RecoveryTimeout,
)
from sf_progress.sync import SyncProgressClient
from sf_progress.testing import Fault, Script

from .test_cli import ThreadedCluster

SVC = "fabric:/app/svc"


@pytest.fixture
def fake() -> Iterator[ThreadedCluster]:
    threaded = ThreadedCluster(default_script=Script(duration=3))
    yield threaded
    threaded.close()


def test_start_wait_and_read_every_kind(fake: ThreadedCluster) -> None:
    """The blocking calls do what the async ones do, over one pooled session."""
    with SyncProgressClient(fake.cluster.url) as client:
        refs = [
            client.start(FaultTarget.restart(SVC, uuid.uuid4())),
            client.start(FaultTarget.data_loss(SVC, uuid.uuid4(), mode="FullDataLoss")),
            client.start(FaultTarget.quorum_loss(SVC, uuid.uuid4(), duration=5)),
            client.start(FaultTarget.node_transition("_Node_1", "stop", stop_duration=300)),
            client.start(FaultTarget.restart(SVC, uuid.uuid4())),
        ]
        assert client.get_progress(refs[0]).state is OperationState.RUNNING
        assert client.wait_for_completion(refs[0]).state is OperationState.COMPLETED
        outcomes = client.wait_many(refs, recovery=True)
        assert sorted(o.kind.value for o in outcomes) == ["completed"] * 5
        assert all(o.recovery is not None and o.recovery.recovered for o in outcomes)
        assert client.wait_for_recovery(refs[1]).recovered
        assert {op.operation_id for op in client.list_fault_operations()} >= {r.operation_id for r in refs}


def test_verified_faults_from_a_script(fake: ThreadedCluster) -> None:
    """prepare, start and the waits of a verified kind, blocking: the same baseline, verified, recovered."""
    partition = uuid.uuid4()
    fake.call(fake.cluster.add_service, SVC, [partition])
    with SyncProgressClient(fake.cluster.url) as client:
        prepared = client.prepare(FaultTarget.remove_replica(SVC, partition, replica="secondary"))
        assert prepared.baseline is not None
        assert prepared.baseline.role == "ActiveSecondary"
        ref = client.start(prepared)
        assert ref.baseline == prepared.baseline
        progress = client.wait_for_completion(ref, recovery=True)
        assert progress.state is OperationState.COMPLETED
        node = client.start(FaultTarget.restart_node("_Node_2"))
        (outcome,) = client.wait_many([node], recovery=True)
        assert outcome.ok
        assert outcome.recovery is not None
        assert outcome.recovery.recovered
    assert fake.cluster.by_route["fault"] == 2


def test_blocking_waits_from_several_threads_at_once(fake: ThreadedCluster) -> None:
    """Eight threads, each starting and waiting, on one client: every wait ends, none blocks another."""
    results: list[OperationState] = []
    errors: list[BaseException] = []
    with SyncProgressClient(fake.cluster.url) as client:

        def work() -> None:
            try:
                ref = client.start(FaultTarget.restart(SVC, uuid.uuid4()))
                results.append(client.wait_for_completion(ref).state)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert errors == []
    assert results == [OperationState.COMPLETED] * 8


async def test_a_call_from_a_running_loops_thread_is_refused_and_to_thread_works(fake: ThreadedCluster) -> None:
    """From a coroutine it would freeze this loop (or deadlock, were it serving the gateway): a clear error.

    (Issue 35, item 8: it froze the calling loop.)  ``asyncio.to_thread`` is the way, and works.
    """
    with SyncProgressClient(fake.cluster.url) as client:
        with pytest.raises(RuntimeError, match=r"start\(\) blocks, and this thread runs an event loop"):
            client.start(FaultTarget.restart(SVC, uuid.uuid4()))
        assert fake.cluster.requests == 0
        ref = await asyncio.to_thread(client.start, FaultTarget.restart(SVC, uuid.uuid4()))
        final = await asyncio.to_thread(client.wait_for_completion, ref)
        assert final.state is OperationState.COMPLETED


def test_close_ends_another_threads_call_in_flight(fake: ThreadedCluster) -> None:
    """A call stuck on a slow gateway in one thread, close() in another: the call raises at once, typed.

    (Issue 35, item 8: the other thread stayed blocked forever.)
    """
    fake.do(lambda: fake.cluster.inject(Fault.slow(60), routes=["progress"]))
    client = SyncProgressClient(fake.cluster.url)
    ref = client.start(FaultTarget.restart(SVC, uuid.uuid4()))
    raised: list[BaseException] = []

    def read() -> None:
        try:
            client.get_progress(ref)
        except BaseException as exc:  # noqa: BLE001 - checked below
            raised.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + 10
    while fake.cluster.by_route["progress"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    began = time.monotonic()
    client.close()
    reader.join(10)
    assert not reader.is_alive()
    assert time.monotonic() - began < 10  # not the 60 s read
    assert len(raised) == 1
    assert isinstance(raised[0], RuntimeError)
    assert "closed while get_progress() ran" in str(raised[0])


def test_an_injected_session_is_refused_up_front() -> None:
    """A session belongs to the loop it was made on; this client runs its own (every call failed, raw)."""
    with pytest.raises(TypeError, match="session= cannot be given to SyncProgressClient"):
        SyncProgressClient("http://127.0.0.1:19080", session=object())


def test_a_forked_child_gets_an_error_not_a_hang(tmp_path: object) -> None:
    """After os.fork() the loop's thread is not in the child: calls raise, close() returns (both hung)."""
    script = textwrap.dedent(
        """
        import os, sys, uuid
        from sf_progress import FaultTarget
        from sf_progress.sync import SyncProgressClient
        client = SyncProgressClient("http://127.0.0.1:9")
        pid = os.fork()
        if pid == 0:
            try:
                client.start(FaultTarget.restart("app~svc", uuid.uuid4()))
            except RuntimeError as exc:
                ok = "before a fork" in str(exc)
            else:
                ok = False
            client.close()
            os._exit(0 if ok and client.closed else 3)
        _, status = os.waitpid(pid, 0)
        client.close()
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", script], timeout=60, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_dropped_client_closes_its_session_and_thread_without_the_gc(
    fake: ThreadedCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """Dropped without close(): no "Unclosed client session", its socket and thread gone, no cyclic GC needed."""
    import gc
    import os

    fds = len(os.listdir("/proc/self/fd"))
    gc.disable()
    try:
        client = SyncProgressClient(fake.cluster.url)
        client.start(FaultTarget.restart(SVC, uuid.uuid4()))
        thread = client._thread
        assert len(os.listdir("/proc/self/fd")) > fds  # a pooled connection (and the loop's own fds)
        del client
        thread.join(10)
        assert not thread.is_alive()
        deadline = time.monotonic() + 5
        while len(os.listdir("/proc/self/fd")) > fds and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(os.listdir("/proc/self/fd")) <= fds
    finally:
        gc.enable()
    assert not [r for r in caplog.records if "Unclosed" in r.getMessage()]


def test_errors_are_the_async_clients(fake: ThreadedCluster) -> None:
    """Typed errors cross the thread as they are; bad arguments before anything is sent."""
    fake.do(setattr, fake.cluster, "default_script", Script(duration=1, recovery=float("inf")))
    with SyncProgressClient(fake.cluster.url) as client:
        with pytest.raises(ValueError, match="mode"):
            client.start(FaultTarget.restart(SVC, uuid.uuid4(), mode="Everything"))
        with pytest.raises(TypeError, match=r"concurrency|operations"):
            client.wait_many([42])  # type: ignore[list-item]
        ref = client.start(FaultTarget.restart(SVC, uuid.uuid4()))
        with pytest.raises(RecoveryTimeout):
            client.wait_for_completion(ref, recovery=True, deadline=20)
    with pytest.raises(TypeError):
        SyncProgressClient(fake.cluster.url, cancel_on_interrupt="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="endpoint"):
        SyncProgressClient("not a url")


def test_close_is_idempotent_and_a_closed_client_refuses(fake: ThreadedCluster) -> None:
    """close() twice is fine; any call after it is a RuntimeError; the loop's thread is gone."""
    client = SyncProgressClient(fake.cluster.url)
    client.start(FaultTarget.restart(SVC, uuid.uuid4()))
    client.close()
    client.close()
    assert client.closed
    assert not client._thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        client.start(FaultTarget.restart(SVC, uuid.uuid4()))
    assert "closed" in repr(client)


def test_a_batch_outcome_order_and_kinds(fake: ThreadedCluster) -> None:
    """wait_many returns one outcome per operation, in the order they ended."""
    with SyncProgressClient(fake.cluster.url) as client:
        fast = client.start(FaultTarget.restart(SVC, uuid.uuid4()))
        outcomes = client.wait_many([fast, fast])
    assert [o.kind for o in outcomes] == [OutcomeKind.COMPLETED]


@contextlib.contextmanager
def _waiting_client(*server_args: str, after_interrupt: str) -> Iterator[subprocess.Popen[str]]:
    """A fake cluster in its own process (*server_args*), and a script waiting on one restart with
    ``cancel_on_interrupt=True``; on Ctrl-C the script runs *after_interrupt* and exits 130."""
    server = subprocess.Popen(
        [sys.executable, "-m", "sf_progress.testing", "--duration", "1000", "--watch-stdin", *server_args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        script = textwrap.dedent(f"""
            import sys, uuid
            from sf_progress import FaultTarget
            from sf_progress.sync import SyncProgressClient
            client = SyncProgressClient({url!r}, cancel_on_interrupt=True)
            ref = client.start(FaultTarget.restart("fabric:/app/svc", uuid.uuid4()))
            print(ref.operation_id, flush=True)
            try:
                client.wait_for_completion(ref, deadline=600)
            except KeyboardInterrupt:
                {after_interrupt}
                client.close()
                sys.exit(130)
        """)
        waiter = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        assert waiter.stdout is not None
        uuid.UUID(waiter.stdout.readline().strip())
        time.sleep(1.0)  # well inside the wait
        yield waiter
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(30)
        server.stdout.close()  # type: ignore[union-attr]


@pytest.mark.real_wait
def test_ctrl_c_stops_the_wait_and_cancels_the_fault() -> None:
    """SIGINT during a blocking wait: KeyboardInterrupt in the caller, the fault's cancel sent (real processes)."""
    after = 'print("interrupted", client.get_progress(ref).state.value, flush=True)'
    with _waiting_client(after_interrupt=after) as waiter:
        waiter.send_signal(signal.SIGINT)
        out, _ = waiter.communicate(timeout=60)
    assert waiter.returncode == 130, out
    assert out.split()[0] == "interrupted"
    assert out.split()[1] in ("RollingBack", "Cancelled")  # the cancel was sent


@pytest.mark.real_wait
@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_with_a_hung_cancel_endpoint_is_prompt_and_quiet(presses: int) -> None:
    """The cancel route hangs: one Ctrl-C returns in about 3 s (it took 10), a second at once; no traceback.

    (Issue 35, item 9: with a hung cancel endpoint one Ctrl-C took 10 s, and a second Ctrl-C during the
    interrupt's cancels logged an asyncio traceback.)
    """
    with _waiting_client("--inject", "slow:120@cancel*5", after_interrupt='print("interrupted", flush=True)') as waiter:
        pressed = time.monotonic()
        waiter.send_signal(signal.SIGINT)
        if presses == 2:
            time.sleep(1.0)  # the cancel is in flight, hung
            pressed = time.monotonic()
            waiter.send_signal(signal.SIGINT)
        out, err = waiter.communicate(timeout=60)
        took = time.monotonic() - pressed
    assert waiter.returncode == 130, (out, err)
    assert out.strip() == "interrupted"
    assert took < (8.0 if presses == 1 else 3.0), took  # the 3 s cancel budget (or none), plus exiting
    assert "Traceback" not in err, err
    assert "never retrieved" not in err, err
    assert "destroyed" not in err, err
    assert "was not confirmed" in err  # what became of the cancel is said


def _public_api(cls: type) -> dict[str, object]:
    """The public members a class defines or inherits (ProgressClient's cluster reads come from a base class)."""
    members: dict[str, object] = {}
    for klass in reversed(cls.__mro__[:-1]):
        members.update((name, member) for name, member in vars(klass).items() if not name.startswith("_"))
    return members


# The lifecycle differs by nature (async with / aclose against with / close); the rest is one surface.
_LIFECYCLE = {"aclose": "close"}


def test_the_blocking_client_has_every_public_method_and_option_of_the_async_one() -> None:
    """Names, parameters (kinds, order, defaults, annotations) and properties match, method for method."""
    ours, theirs = _public_api(SyncProgressClient), _public_api(ProgressClient)
    assert set(theirs) - set(_LIFECYCLE) <= set(ours), "missing in SyncProgressClient"
    # run_scenario: the blocking ScenarioRun (the async client cannot hold it: ScenarioRun is built on it).
    extra = {"cancel_on_interrupt", "run_scenario"}
    assert set(ours) - set(_LIFECYCLE.values()) - extra <= set(theirs), "extra in SyncProgressClient"
    compared = 0
    for name, member in theirs.items():
        if name in _LIFECYCLE:
            continue
        mine = ours[name]
        if isinstance(member, property):
            assert isinstance(mine, property), name
            continue
        want = inspect.signature(member, eval_str=True)  # type: ignore[arg-type]
        got = inspect.signature(mine)  # type: ignore[arg-type]
        assert list(got.parameters) == list(want.parameters), name
        for param in want.parameters.values():
            other = got.parameters[param.name]
            assert (other.kind, other.default, other.annotation) == (param.kind, param.default, param.annotation), (
                f"{name}({param.name})"
            )
        compared += 1
    assert compared >= 11
    # wait_many alone returns something else: the outcomes, not a batch to iterate.
    assert inspect.signature(SyncProgressClient.wait_many).return_annotation == list[Outcome]
    assert inspect.signature(SyncProgressClient.get_progress).return_annotation == FaultProgress


def test_the_constructor_takes_every_option_of_the_async_client(fake: ThreadedCluster) -> None:
    """Options are forwarded unchanged (checked in the caller's thread)."""
    with SyncProgressClient(fake.cluster.url, server_timeout=7, api_version="6.0", timeout_margin=1) as client:
        assert (client.api_version, client.request_timeout) == ("6.0", 8.0)
        assert client.clock is not None
    with pytest.raises(ValueError, match="timeout must be"):
        SyncProgressClient(fake.cluster.url, server_timeout=0)


def test_hooks_and_options_the_subset_lacked_are_forwarded(fake: ThreadedCluster) -> None:
    """on_progress, on_event and coalesce reach the async waits (called on the client's loop)."""
    seen: list[str] = []
    threads: set[str] = set()

    def on_progress(ref: OperationRef, progress: FaultProgress) -> None:
        seen.append(progress.raw_state)
        threads.add(threading.current_thread().name)

    def on_event(event: Event) -> None:
        threads.add(threading.current_thread().name)

    with SyncProgressClient(fake.cluster.url) as client:
        ref = client.start(FaultTarget.restart("app~svc", uuid.uuid4()))
        final = client.wait_for_completion(ref, deadline=30, on_progress=on_progress, coalesce=False)
        outcomes = client.wait_many(
            [client.start(FaultTarget.data_loss("app~svc", uuid.uuid4()))], on_event=on_event, coalesce=True
        )
        assert client.get_restart_progress(ref.service_id or "", ref.partition_id or "", ref.operation_id).is_terminal
        assert client.get_cluster_version()
    assert final.state is OperationState.COMPLETED
    assert seen[-1] == "Completed"
    assert [o.kind for o in outcomes] == [OutcomeKind.COMPLETED]
    assert threads == {"sf_progress-sync"}
    with SyncProgressClient(fake.cluster.url) as client, pytest.raises(ValueError, match="operations is required"):
        client.wait_many(None)
