"""Type-checked use of the public API (never run; `mypy --strict` reads it in CI)."""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta

from sf_progress import (
    Backoff,
    BatchSnapshot,
    Clock,
    DataLossMode,
    DataLossSpec,
    Event,
    EventHook,
    FaultOperation,
    FaultProgress,
    FaultRun,
    FaultTarget,
    HealthState,
    JournalError,
    NodeFacts,
    NodeTransitionProgress,
    NodeTransitionSpec,
    NodeTransitionType,
    OperationKindError,
    OperationRef,
    OperationState,
    OperationType,
    Outcome,
    OutcomeKind,
    PartitionDataLossProgress,
    PartitionFacts,
    PartitionQuorumLossProgress,
    PartitionRestartProgress,
    ProgressClient,
    ProgressHook,
    QuorumLossMode,
    QuorumLossSpec,
    Recovery,
    RecoveryTimeout,
    RestartPartitionMode,
    RestartSpec,
    RetryPolicy,
    RunResult,
    SFProgressError,
    StartSpec,
    StateChanged,
    TLSConfig,
    TokenProvider,
    WaitOptions,
)
from sf_progress.sync import SyncProgressClient


async def use(client: ProgressClient) -> None:
    ref: OperationRef = await client.start(FaultTarget.restart("fabric:/a/b", uuid.uuid4()))
    read: FaultProgress = await client.get_progress(ref)
    assert isinstance(read, PartitionRestartProgress)
    progress: PartitionRestartProgress = read
    same: PartitionRestartProgress = await client.get_restart_progress("a~b", str(uuid.uuid4()), uuid.uuid4())
    state: OperationState = progress.state
    terminal: bool = state.is_terminal and same.is_terminal

    def on_progress(r: OperationRef, p: PartitionRestartProgress) -> None:
        print(r, p.state)

    final = await client.wait_for_completion(ref, deadline=60, backoff=Backoff(initial=0.5), on_progress=on_progress)
    code: int | None = final.error_code

    def on_event(event: Event) -> None:
        if isinstance(event, StateChanged):
            print(event.previous, event.progress.state)

    async with client.wait_many([ref, OperationRef.restart("a~b", uuid.uuid4(), uuid.uuid4())], max_rate=50.0, on_event=on_event) as batch:
        async for outcome in batch:
            o: Outcome = outcome
            kind: OutcomeKind = o.kind
            err: SFProgressError | None = o.error
            print(kind, err, terminal, code)
        snap: BatchSnapshot = batch.snapshot()
        print(snap.by_state.get(None, 0))


client = ProgressClient("http://localhost:19080", retry=RetryPolicy(attempts=3), api_version="6.0")


async def every_kind(client: ProgressClient) -> None:
    loss = await client.start(FaultTarget.data_loss("a~b", uuid.uuid4(), mode=DataLossMode.FULL_DATA_LOSS))
    quorum = await client.start(FaultTarget.quorum_loss("a~b", uuid.uuid4(), duration=30, mode="AllReplicas"))
    node = await client.start(FaultTarget.node_transition("_Node_0", NodeTransitionType.STOP, stop_duration=600))
    data, q, n = [await client.get_progress(ref) for ref in (loss, quorum, node)]
    assert isinstance(data, PartitionDataLossProgress)
    assert isinstance(q, PartitionQuorumLossProgress)
    assert isinstance(n, NodeTransitionProgress)
    any_kind: FaultProgress = await client.get_progress(OperationRef.node_transition("_Node_1", uuid.uuid4()))
    kind: OperationType = loss.kind
    print(data.invoke_data_loss_result, q.error_code, n.node_transition_result, any_kind.raw_state, kind)
    async with client.wait_many([loss, quorum, node], coalesce=None) as batch:
        async for outcome in batch:
            print(outcome.progress)
    with contextlib.suppress(OperationKindError, JournalError):
        await client.get_progress(loss)


async def journaled(client: ProgressClient) -> None:
    targets = [FaultTarget.restart("a~b", uuid.uuid4()), FaultTarget.quorum_loss("a~b", uuid.uuid4(), duration=5)]
    async with await FaultRun.create("run.jsonl", client, targets) as run:
        await run.start_pending()
        async for result in run.results(deadline=600):
            r: RunResult = result
            outcome: OutcomeKind = r.outcome
            state: OperationState | None = r.state
            ref: OperationRef = r.ref
            target: FaultTarget = r.target
            code: int | None = r.error_code
            error: str | None = r.error
            polls: int = r.polls
            elapsed: float = r.elapsed
            print(r.number, outcome, state, ref, target.spec, code, error, polls, elapsed, r.ok)


async def start_every_kind(client: ProgressClient) -> None:
    targets: list[FaultTarget] = [
        FaultTarget.restart("a~b", uuid.uuid4(), mode=RestartPartitionMode.ONLY_ACTIVE_SECONDARIES),
        FaultTarget.data_loss("a~b", uuid.uuid4(), mode="FullDataLoss"),
        FaultTarget.quorum_loss("a~b", uuid.uuid4(), duration=timedelta(seconds=30), mode=QuorumLossMode.ALL_REPLICAS),
        FaultTarget.node_transition("_Node_0", "start", node_instance_id=131_000_000_000),
        FaultTarget(OperationRef.restart("a~b", uuid.uuid4(), uuid.uuid4()), RestartSpec()),
        FaultTarget(OperationRef.data_loss("a~b", uuid.uuid4(), uuid.uuid4()), DataLossSpec(DataLossMode.FULL_DATA_LOSS)),
        FaultTarget(OperationRef.quorum_loss("a~b", uuid.uuid4(), uuid.uuid4()), QuorumLossSpec(5)),
        FaultTarget(OperationRef.node_transition("_Node_1", uuid.uuid4()), NodeTransitionSpec("stop", stop_duration=300)),
    ]
    for target in targets:
        ref: OperationRef = await client.start(target, timeout=30)
        spec: StartSpec = target.spec
        print(ref.kind, spec)
    clock: Clock = client.clock
    hook: EventHook = print

    def on_restart(r: OperationRef, p: PartitionRestartProgress) -> None:
        print(r, p.restart_partition_result)

    def token() -> str:
        return "token"

    progress_hook: ProgressHook[PartitionRestartProgress] = on_restart
    tokens: TokenProvider = token
    secured = ProgressClient(
        "https://c:19080", tls=TLSConfig(server_thumbprints=["ab" * 20], allow_insecure_http=False), token_provider=tokens
    )
    print(clock.monotonic(), hook, progress_hook, secured)


async def recovered(client: ProgressClient, ref: OperationRef) -> None:
    recovery: Recovery = await client.wait_for_recovery(ref, deadline=60, transition="start")
    ok: bool = recovery.recovered
    took: float = recovery.elapsed
    why: str | None = recovery.reason
    facts: PartitionFacts | None = recovery.partition
    node: NodeFacts | None = recovery.node
    health: HealthState | None = None if facts is None else facts.health
    print(ok, took, why, node, health)
    try:
        await client.wait_for_completion(ref, recovery=True)
    except RecoveryTimeout as exc:
        last: Recovery = exc.recovery
        print(last.reason)
    async with client.wait_many([ref], recovery=True) as batch:
        async for outcome in batch:
            r: Recovery | None = outcome.recovery
            print(r, batch.snapshot().recovering)
    run = await FaultRun.create("run.jsonl", client, [], max_active=4, recovery=True, abort_on_unrecovered=True)
    async for result in run.results():
        rr: Recovery | None = result.recovery
        print(rr, run.aborted, run.gates.max_active)


def blocking(endpoint: str) -> None:
    with SyncProgressClient(endpoint, cancel_on_interrupt=True, server_timeout=30) as sync:
        ref: OperationRef = sync.start(FaultTarget.restart("a~b", uuid.uuid4()), timeout=10)
        progress: FaultProgress = sync.get_progress(ref)
        same: PartitionRestartProgress = sync.get_restart_progress("a~b", uuid.uuid4(), uuid.uuid4())
        final: FaultProgress = sync.wait_for_completion(ref, deadline=timedelta(minutes=5), coalesce=False)
        outcomes: list[Outcome] = sync.wait_many([ref], concurrency=8, on_event=print, recovery=True)
        recovery: Recovery = sync.wait_for_recovery(ref, deadline=60)
        listed: list[FaultOperation] = sync.list_fault_operations(state_filter=OperationState.RUNNING)
        version: str = sync.get_cluster_version()
        sync.cancel_operation(ref, force=False)
        defaults = WaitOptions()
        deadline: float = defaults.deadline
        print(progress, same, final, outcomes, recovery, listed, version, deadline, WaitOptions.MAX_CONCURRENCY)
