"""OpenTelemetry instruments and spans, against ``opentelemetry-api`` only (the ``otel`` extra).

The library never configures a provider or an exporter: with no SDK configured the API's
no-op (proxy) instruments are used, and without ``opentelemetry-api`` installed every
function here is a no-op.  Attribute sets are built once, so recording costs a dict
lookup and one call.

Instruments:

- ``sf_progress.operations.active`` (UpDownCounter, ``{operation}``; ``sf.operation.kind``)
- ``sf_progress.operation.duration`` (Histogram, ``s``; ``sf.operation.kind``, ``sf.outcome``)
- ``sf_progress.requests`` (Counter, ``{request}``; ``sf.request.route``, ``sf.request.result``)

Spans: ``sf_progress.wait`` per ``wait_for_completion``, ``sf_progress.wait_many`` per batch
(never one per operation of a batch).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from ._models import OperationType
from ._version import __version__

_metrics: Any
_trace: Any
try:  # pragma: no branch - depends on the installed extras
    import opentelemetry.metrics as _otel_metrics
    import opentelemetry.trace as _otel_trace

    _metrics, _trace = _otel_metrics, _otel_trace
except ImportError:  # pragma: no cover - exercised in a subprocess test with the package hidden
    _metrics = _trace = None

__all__ = [
    "DURATION_BOUNDARIES",
    "ROUTES",
    "batch_span",
    "enabled",
    "operation_dropped",
    "operation_ended",
    "operation_started",
    "request",
    "wait_span",
]

#: Advisory buckets for operation durations: restarts take seconds to an hour.
DURATION_BOUNDARIES = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)
ROUTES = ("progress", "list", "start", "cancel", "health", "info", "target", "control", "other")
_RESULTS = ("ok", "transient", "error")
_OUTCOMES = ("completed", "faulted", "cancelled", "not_found", "timed_out", "failed")

_REQUEST_ATTRS = {
    (route, result): {"sf.request.route": route, "sf.request.result": result} for route in ROUTES for result in _RESULTS
}
_KIND_ATTRS = {kind: {"sf.operation.kind": kind.value} for kind in OperationType}
_DURATION_ATTRS = {
    (kind, outcome): {"sf.operation.kind": kind.value, "sf.outcome": outcome}
    for kind in OperationType
    for outcome in _OUTCOMES
}


class _Instruments:
    """Created on first use, from the global providers as they are then (proxies until set)."""

    def __init__(self) -> None:
        assert _metrics is not None
        assert _trace is not None
        meter = _metrics.get_meter("sf_progress", __version__)
        self.active = meter.create_up_down_counter(
            "sf_progress.operations.active", unit="{operation}", description="Fault operations being waited on"
        )
        self.duration = meter.create_histogram(
            "sf_progress.operation.duration",
            unit="s",
            description="From the start of a wait to the first read that showed the operation ended",
            explicit_bucket_boundaries_advisory=DURATION_BOUNDARIES,
        )
        self.requests = meter.create_counter(
            "sf_progress.requests", unit="{request}", description="Requests sent to the gateway"
        )
        self.tracer = _trace.get_tracer("sf_progress", __version__)


_instruments: _Instruments | None = None
logger = logging.getLogger("sf_progress")
_failed: set[str] = set()


def _broken(what: str) -> None:
    """A configured SDK, exporter or span processor raised: log it once per kind of record, carry on.

    Telemetry never changes what a wait does: its counters stay balanced because every
    record is attempted on its own.
    """
    if what not in _failed:
        _failed.add(what)
        logger.warning("OpenTelemetry raised while recording %s; sf_progress goes on without it", what, exc_info=True)


def enabled() -> bool:
    """Whether ``opentelemetry-api`` is installed (instruments are then recorded, no-ops without an SDK)."""
    return _metrics is not None


def _get() -> _Instruments:
    global _instruments
    if _instruments is None:
        _instruments = _Instruments()
    return _instruments


def request(route: str, result: str) -> None:
    """One request sent: its route and how it went (``ok``, ``transient`` or ``error``)."""
    if _metrics is not None:
        try:
            (_instruments or _get()).requests.add(1, _REQUEST_ATTRS[route, result])
        except Exception:
            _broken("sf_progress.requests")


def operation_started(kind: OperationType, count: int = 1) -> None:
    if _metrics is not None and count:
        try:
            (_instruments or _get()).active.add(count, _KIND_ATTRS[kind])
        except Exception:
            _broken("sf_progress.operations.active")


def operation_ended(kind: OperationType, outcome: str, elapsed: float) -> None:
    """A waited-on operation ended (with an outcome): no longer active, its duration recorded."""
    if _metrics is not None:
        try:
            (_instruments or _get()).active.add(-1, _KIND_ATTRS[kind])
        except Exception:
            _broken("sf_progress.operations.active")
        try:
            (_instruments or _get()).duration.record(elapsed, _DURATION_ATTRS[kind, outcome])
        except Exception:
            _broken("sf_progress.operation.duration")


def operation_dropped(kind: OperationType, count: int = 1) -> None:
    """Waits that ended without an outcome (cancelled, client closed): no longer active."""
    if _metrics is not None and count:
        try:
            (_instruments or _get()).active.add(-count, _KIND_ATTRS[kind])
        except Exception:
            _broken("sf_progress.operations.active")


@contextlib.contextmanager
def wait_span(kind: OperationType, operation_id: str) -> Iterator[Any]:
    """The ``sf_progress.wait`` span of one ``wait_for_completion`` (``None`` without the API)."""
    if _trace is None:
        yield None
        return
    attributes = {"sf.operation.kind": kind.value, "sf.operation.id": operation_id}
    try:
        manager = (_instruments or _get()).tracer.start_as_current_span(
            "sf_progress.wait", attributes=attributes, record_exception=True, set_status_on_exception=False
        )
        span = manager.__enter__()
    except Exception:
        _broken("the sf_progress.wait span")
        yield None
        return
    try:
        yield span
    except BaseException as exc:
        _exit_span(manager, exc)
        raise
    _exit_span(manager, None)


def _exit_span(manager: Any, exc: BaseException | None) -> None:
    try:
        manager.__exit__(type(exc) if exc is not None else None, exc, exc.__traceback__ if exc is not None else None)
    except Exception:
        _broken("the sf_progress.wait span")


def end_wait_span(span: Any, outcome: str, polls: int) -> None:
    if span is None:
        return
    try:
        span.set_attribute("sf.outcome", outcome)
        span.set_attribute("sf.polls", polls)
        if outcome in ("failed", "timed_out") and _trace is not None:
            span.set_status(_trace.Status(_trace.StatusCode.ERROR, outcome))
    except Exception:
        _broken("the sf_progress.wait span")


def batch_span() -> Any:
    """Start the ``sf_progress.wait_many`` span of a batch (``None`` without the API); ``end_batch_span`` ends it."""
    if _trace is None:
        return None
    try:
        return (_instruments or _get()).tracer.start_span("sf_progress.wait_many")
    except Exception:
        _broken("the sf_progress.wait_many span")
        return None


def end_batch_span(span: Any, total: int, by_kind: Mapping[Any, int]) -> None:
    if span is None:
        return
    try:
        span.set_attribute("sf.operations.total", total)
        for outcome in _OUTCOMES:
            span.set_attribute(f"sf.operations.{outcome}", int(by_kind.get(outcome, 0)))
        span.end()
    except Exception:
        _broken("the sf_progress.wait_many span")
