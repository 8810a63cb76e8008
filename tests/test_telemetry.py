"""OpenTelemetry: instruments and spans checked with the SDK's in-memory reader and exporter."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import uuid
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sf_progress import FaultTarget, OperationRef, OperationState, ProgressClient, WaitTimeout
from sf_progress.testing import FakeCluster, Fault, Script

from .conftest import PID

READER = InMemoryMetricReader()
SPANS = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def providers() -> None:
    """The SDK, configured once for the process (the global providers can be set only once)."""
    if not isinstance(metrics.get_meter_provider(), MeterProvider):
        metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(SPANS))
        trace.set_tracer_provider(tracer_provider)


def points(name: str) -> dict[tuple[tuple[str, Any], ...], Any]:
    """The current (cumulative) points of one instrument, by attribute set."""
    data = READER.get_metrics_data()
    found: dict[tuple[tuple[str, Any], ...], Any] = {}
    if data is None:
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        key = tuple(sorted(point.attributes.items()))
                        found[key] = point.count if hasattr(point, "bucket_counts") else point.value
    return found


def delta(before: dict[Any, Any], after: dict[Any, Any]) -> dict[Any, Any]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def refs(n: int) -> list[OperationRef]:
    return [OperationRef.restart("app~svc", PID, uuid.uuid4()) for _ in range(n)]


async def test_a_batch_and_concurrent_waits_are_measured(cluster: FakeCluster) -> None:
    """A batch of 300 through 503/504s plus 20 waits: requests by route match the fake's counts, one duration each."""
    SPANS.clear()
    ops, singles = refs(300), refs(20)
    for ref in ops + singles:
        cluster.add_operation(ref, Script(duration=5))
    cluster.set_fault_rate(0.1, [Fault.service_unavailable(), Fault.gateway_timeout()], routes=["progress", "list"])
    requests0, durations0 = points("sf_progress.requests"), points("sf_progress.operation.duration")
    async with ProgressClient(cluster.url) as client:

        async def batch() -> None:
            async with client.wait_many(ops) as waiter:
                assert len([o async for o in waiter]) == 300

        await asyncio.gather(batch(), *(client.wait_for_completion(ref) for ref in singles))
    requests = delta(requests0, points("sf_progress.requests"))
    by_route: dict[str, int] = {}
    for key, value in requests.items():
        attrs = dict(key)
        by_route[attrs["sf.request.route"]] = by_route.get(attrs["sf.request.route"], 0) + value
    assert by_route == {"progress": cluster.by_route["progress"], "list": cluster.by_route["list"]}
    assert any(dict(k)["sf.request.result"] == "transient" for k in requests)
    durations = delta(durations0, points("sf_progress.operation.duration"))
    assert durations == {(("sf.operation.kind", "PartitionRestart"), ("sf.outcome", "completed")): 320}
    assert set(points("sf_progress.operations.active").values()) == {0}
    spans = SPANS.get_finished_spans()
    assert [s.name for s in spans].count("sf_progress.wait") == 20
    batch_spans = [s for s in spans if s.name == "sf_progress.wait_many"]
    assert len(batch_spans) == 1
    assert batch_spans[0].attributes is not None
    assert batch_spans[0].attributes["sf.operations.total"] == 300
    assert batch_spans[0].attributes["sf.operations.completed"] == 300
    wait = next(s for s in spans if s.name == "sf_progress.wait")
    assert wait.attributes is not None
    assert (wait.attributes["sf.outcome"], wait.attributes["sf.operation.kind"]) == ("completed", "PartitionRestart")
    assert wait.attributes["sf.polls"] >= 1


async def test_timed_out_waits_are_error_spans(cluster: FakeCluster, client: ProgressClient) -> None:
    """A wait that times out: its span has status ERROR and sf.outcome timed_out; its duration is recorded."""
    SPANS.clear()
    (ref,) = refs(1)
    cluster.add_operation(ref, Script(duration=1000))
    with pytest.raises(WaitTimeout):
        await client.wait_for_completion(ref, deadline=5)
    (span,) = [s for s in SPANS.get_finished_spans() if s.name == "sf_progress.wait"]
    assert span.status.status_code is trace.StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["sf.outcome"] == "timed_out"


@pytest.mark.parametrize("how", ["cancel_consumer", "close_client", "cancel_wait"])
async def test_active_returns_to_zero_however_waits_end(cluster: FakeCluster, how: str) -> None:
    """Cancelling a consumer or a wait, or closing the client, brings operations.active back to 0."""
    ops = refs(10)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=10_000))
    client = ProgressClient(cluster.url)
    if how == "cancel_wait":
        task: asyncio.Future[Any] = asyncio.ensure_future(client.wait_for_completion(ops[0], deadline=None))
    else:
        batch = client.wait_many(ops, deadline=None)

        async def consume() -> None:
            async for _ in batch:
                pass

        task = asyncio.ensure_future(consume())
    for _ in range(30):
        await asyncio.sleep(0)
    assert sum(points("sf_progress.operations.active").values()) > 0
    if how == "close_client":
        await client.aclose()
    else:
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await client.aclose()
    assert set(points("sf_progress.operations.active").values()) == {0}


class _RaisingProcessor(SpanProcessor):
    """A span processor of the user's that raises while ``armed``."""

    armed = False

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.armed:
            raise RuntimeError("processor on_start failed")

    def on_end(self, span: Any) -> None:
        if self.armed:
            raise RuntimeError("processor on_end failed")


async def test_a_raising_span_processor_changes_nothing(
    cluster: FakeCluster, client: ProgressClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A span processor that raises: waits return as usual, it is logged once, operations.active balances."""
    processor = _RaisingProcessor()
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    provider.add_span_processor(processor)
    ops = refs(4)
    for ref in ops:
        cluster.add_operation(ref, Script(duration=3))
    processor.armed = True
    try:
        with caplog.at_level(logging.WARNING, logger="sf_progress"):
            done = await client.wait_for_completion(ops[0])
            again = await client.wait_for_completion(ops[1])
            async with client.wait_many(ops[2:]) as batch:
                outcomes = [o async for o in batch]
    finally:
        processor.armed = False
    assert done.state is again.state is OperationState.COMPLETED
    assert all(o.ok for o in outcomes)
    assert caplog.text.count("OpenTelemetry raised while recording the sf_progress.wait span") == 1
    assert set(points("sf_progress.operations.active").values()) == {0}


async def test_sessions_are_instrumented_by_the_aiohttp_instrumentor(cluster: FakeCluster) -> None:
    """With the official aiohttp-client instrumentor enabled, the client's own session sends HTTP spans."""
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

    SPANS.clear()
    (ref,) = refs(1)
    cluster.add_operation(ref)
    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument()
    try:
        async with ProgressClient(cluster.url) as client:
            await client.get_progress(ref)
    finally:
        instrumentor.uninstrument()
    http = [s for s in SPANS.get_finished_spans() if s.kind is trace.SpanKind.CLIENT]
    assert len(http) == 1
    assert http[0].attributes is not None
    assert any("GetRestartProgress" in str(v) for v in http[0].attributes.values())


def test_runs_without_opentelemetry_installed() -> None:
    """With opentelemetry hidden, sf_progress imports and a wait runs (telemetry off, nothing recorded)."""
    script = textwrap.dedent(
        """
        import asyncio, sys, uuid

        class Hide:
            def find_spec(self, name, path=None, target=None):
                if name == "opentelemetry" or name.startswith("opentelemetry."):
                    raise ImportError(f"hidden: {name}")
                return None

        sys.meta_path.insert(0, Hide())
        from sf_progress import OperationRef, ProgressClient, set_testing, _telemetry
        from sf_progress.testing import FakeCluster, Script

        async def main():
            set_testing(True)
            async with FakeCluster() as cluster, ProgressClient(cluster.url) as client:
                refs = [OperationRef.restart("a~b", uuid.uuid4(), uuid.uuid4()) for _ in range(5)]
                for ref in refs:
                    cluster.add_operation(ref, Script(duration=3))
                await client.wait_for_completion(refs[0])
                async with client.wait_many(refs) as batch:
                    assert len([o async for o in batch]) == 5
            assert not _telemetry.enabled()
            assert "opentelemetry" not in sys.modules
            print("ok")

        asyncio.run(main())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


@pytest.mark.real_wait
def test_cli_serves_metrics_for_prometheus(tmp_path: Any) -> None:
    """watch --metrics-port 0 serves the run's metrics on 127.0.0.1 while it runs; a scrape shows them."""
    import json
    import signal
    import time
    import urllib.request

    from .test_cli import ThreadedCluster, ids, run_module

    threaded = ThreadedCluster()
    try:
        ref = threaded.add(Script(duration=10_000))
        source = tmp_path / "ops.jsonl"
        source.write_text(json.dumps(dict(zip(("service_id", "partition_id", "operation_id"), ids(ref), strict=True))))
        proc = run_module(
            "watch", "--from", str(source), "--metrics-port", "0", "--endpoint", threaded.cluster.url, "--quiet"
        )
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("metrics on http://127.0.0.1:"), line
        url = line.split()[-1]
        deadline = time.monotonic() + 30
        text = ""
        while time.monotonic() < deadline and "sf_progress_requests_total" not in text:
            time.sleep(0.5)
            with urllib.request.urlopen(url, timeout=10) as answer:
                text = answer.read().decode()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        assert proc.returncode == 130
        import re

        assert re.search(r'sf_progress_operations_active\{[^}]*sf_operation_kind="PartitionRestart"[^}]*\} 1\.0', text)
        assert 'sf_request_route="progress"' in text or 'sf_request_route="list"' in text
    finally:
        threaded.close()


def test_blocking_calls_nest_their_spans_under_the_callers() -> None:
    """SyncProgressClient carries the caller's context into its loop: the wait span is a child of the caller's span."""
    from sf_progress.sync import SyncProgressClient

    from .test_cli import ThreadedCluster

    threaded = ThreadedCluster(default_script=Script(duration=1))
    try:
        SPANS.clear()
        with (
            trace.get_tracer("test").start_as_current_span("chaos-activity") as parent,
            SyncProgressClient(threaded.cluster.url) as client,
        ):
            ref = client.start(FaultTarget.restart("app~svc", uuid.uuid4()))
            client.wait_for_completion(ref)
        (wait,) = [span for span in SPANS.get_finished_spans() if span.name == "sf_progress.wait"]
        assert wait.parent is not None
        assert wait.parent.span_id == parent.get_span_context().span_id
    finally:
        threaded.close()
