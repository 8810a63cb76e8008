"""A Chaos Toolkit safeguard: the experiment runs only while Service Fabric's safety rules allow faults.

Declare it in the experiment (or in the toolkit's settings, for every experiment)::

    "controls": [{"name": "sf_progress-safety",
                  "provider": {"type": "python", "module": "sf_progress.chaostoolkit.controls.safety",
                               "arguments": {"interval": 5}}}]

It uses the activities' configuration and secrets (``sf_endpoint``, ``sf_allow``,
``sf_forbid_health``...).  Before the experiment it runs :meth:`sf_progress.ProgressClient.check`
and interrupts the experiment (nothing of it runs) when a rule the configuration does not waive
forbids faults -- a cluster upgrade in progress (``upgrade``), SF Chaos running (``chaos``), the
cluster's health (``health``: ``Error``, or ``Warning`` with ``sf_forbid_health``) -- or when the
stop lever is engaged (never waived).  While the experiment runs it checks again every
``interval`` seconds and, when one closes, interrupts it gracefully (the current activity ends,
the rollbacks run: the toolkit's own ``exit_gracefully``).  The journal's ``extensions`` then
hold ``{"name": "sf_progress-safety", "interrupted": <why>}``.  The rules on a fault's own
target (``app-upgrade``, ``repair``, the node rules) are the actions' own: each start is
held to them.
"""

from __future__ import annotations

import threading
from typing import Any

from chaoslib.exceptions import InterruptExecution
from chaoslib.exit import exit_gracefully

from ... import CheckStatus
from .._connect import client_for, connection, logger

__all__ = ["after_experiment_control", "before_experiment_control", "configure_control"]

EXTENSION = "sf_progress-safety"
#: The checks of ``ProgressClient.check`` that are safety rules (waivable by name), and the lever (never).
_RULES = ("upgrade", "chaos", "health")
_LEVER = "lever"


class _Watch:
    """The experiment under way: its settings, the watching thread, and why it was interrupted."""

    def __init__(self) -> None:
        self.configuration: dict[str, Any] | None = None
        self.secrets: dict[str, Any] | None = None
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.reason: str | None = None


_watch = _Watch()


def configure_control(
    configuration: dict[str, Any] | None = None, secrets: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """Keep the experiment's configuration and secrets (the toolkit calls it when it loads the control).

    Args:
        configuration: The experiment's configuration (``sf_endpoint``, ``sf_allow``...).
        secrets: The experiment's secrets.
        **kwargs: The toolkit's other arguments, unused.
    """
    _watch.configuration, _watch.secrets, _watch.reason = configuration, secrets, None


def forbidding(configuration: dict[str, Any] | None, secrets: dict[str, Any] | None) -> str | None:
    """What forbids faults now (the rules not waived, the lever), in words; ``None`` when nothing does."""
    settings = connection(configuration, secrets)
    with client_for(configuration, secrets) as client:
        preflight = client.check()
    if not preflight.reachable:
        return "; ".join(c.detail for c in preflight.checks)
    found = []
    for check in preflight.checks:
        waived = check.name in settings.allow
        if check.name == _LEVER and check.status is CheckStatus.FORBIDS:
            found.append(f"the stop lever is engaged ({check.detail})")
        elif check.name in _RULES and not waived:
            warning = check.name == "health" and settings.forbid_health == "Warning" and check.value == "Warning"
            if check.status is CheckStatus.FORBIDS or warning:
                found.append(f"{check.name}: {check.detail}")
    return "; ".join(found) or None


def before_experiment_control(
    context: dict[str, Any],
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    interval: float = 5.0,
    **kwargs: Any,
) -> None:
    """Interrupt the experiment before it starts if a rule forbids faults; else watch them every *interval* s.

    Args:
        context: The experiment.
        configuration: The experiment's configuration.
        secrets: The experiment's secrets.
        interval: Seconds between two checks while the experiment runs (default 5).
        **kwargs: The toolkit's other arguments, unused.

    Raises:
        InterruptExecution: A rule forbids faults now (nothing of the experiment runs).
    """
    every = float(interval)
    if not every > 0:
        raise InterruptExecution(f"sf_progress safety: interval must be a number of seconds > 0, got {interval!r}")
    configuration = configuration if configuration is not None else _watch.configuration
    secrets = secrets if secrets is not None else _watch.secrets
    try:
        reason = forbidding(configuration, secrets)
    except ValueError as exc:
        reason = str(exc)
    if reason is not None:
        _watch.reason = reason
        logger.error("sf_progress safety: the experiment does not start: %s", reason)
        raise InterruptExecution(f"sf_progress safety: {reason}")
    _watch.stop.clear()
    _watch.thread = threading.Thread(
        target=_run, args=(configuration, secrets, every), name="sf_progress-safety", daemon=True
    )
    _watch.thread.start()


def _run(configuration: dict[str, Any] | None, secrets: dict[str, Any] | None, every: float) -> None:
    while not _watch.stop.wait(every):
        try:
            reason = forbidding(configuration, secrets)
        except Exception as exc:  # noqa: BLE001 - a failed check is said, the watch goes on
            logger.warning("sf_progress safety: could not check the rules: %s", exc)
            continue
        if reason is not None and not _watch.stop.is_set():
            _watch.reason = reason
            logger.error("sf_progress safety: interrupting the experiment: %s", reason)
            exit_gracefully()
            return


def after_experiment_control(context: dict[str, Any], state: Any, **kwargs: Any) -> None:
    """Stop watching; say in the journal's ``extensions`` why the experiment was interrupted, if it was.

    Args:
        context: The experiment.
        state: The journal, written after this control returns.
        **kwargs: The toolkit's other arguments, unused.
    """
    _watch.stop.set()
    thread, _watch.thread = _watch.thread, None
    if thread is not None:
        thread.join(timeout=30)
    if isinstance(state, dict) and _watch.reason is not None:
        state.setdefault("extensions", []).append({"name": EXTENSION, "interrupted": _watch.reason})
    _watch.reason = None
