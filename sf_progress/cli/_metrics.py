"""``--metrics-port``: the run's OpenTelemetry metrics, served for Prometheus while it lasts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from ._ui import err_console


@contextlib.contextmanager
def serve_metrics(port: int | None, host: str) -> Iterator[None]:
    """Configure the OpenTelemetry SDK with a Prometheus reader and serve ``/metrics`` on *host*:*port*.

    The command line is an application, so it may configure a provider; the library never does.
    """
    if port is None:
        yield
        return
    try:
        from opentelemetry import metrics
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
        from prometheus_client import start_http_server
    except ImportError:
        raise click.UsageError("--metrics-port needs the Prometheus exporter: pip install 'sf_progress[cli]'") from None
    provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
    metrics.set_meter_provider(provider)
    try:
        server, thread = start_http_server(port, addr=host)
    except OSError as exc:
        raise click.UsageError(f"--metrics-port: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    shown = f"[{host}]" if ":" in host else host
    err_console().print(f"metrics on http://{shown}:{server.server_port}/metrics")
    try:
        yield
    finally:
        server.shutdown()
        thread.join(5)
        provider.shutdown()
