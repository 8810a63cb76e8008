"""Type-checked use of the public API (never run; `mypy --strict` reads it in CI)."""

from __future__ import annotations

import uuid

from sf_progress import (
    Backoff,
    BatchSnapshot,
    Event,
    OperationRef,
    OperationState,
    Outcome,
    OutcomeKind,
    PartitionRestartProgress,
    ProgressClient,
    RetryPolicy,
    SFProgressError,
    StateChanged,
)


async def use(client: ProgressClient) -> None:
    ref: OperationRef = await client.start_partition_restart("fabric:/a/b", uuid.uuid4())
    progress: PartitionRestartProgress = await client.get_restart_progress(ref)
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

    async with client.wait_many([ref, ("a~b", uuid.uuid4(), uuid.uuid4())], max_rate=50.0, on_event=on_event) as batch:
        async for outcome in batch:
            o: Outcome = outcome
            kind: OutcomeKind = o.kind
            err: SFProgressError | None = o.error
            print(kind, err, terminal, code)
        snap: BatchSnapshot = batch.snapshot()
        print(snap.by_state.get(None, 0))


client = ProgressClient("http://localhost:19080", retry=RetryPolicy(attempts=3), api_version="6.0")
