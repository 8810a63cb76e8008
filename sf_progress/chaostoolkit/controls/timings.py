"""A Chaos Toolkit control that keeps every fault's time to end and time to recover in the journal.

Declare it in the experiment (or in the toolkit's settings, for every experiment)::

    "controls": [{"name": "sf_progress-timings",
                  "provider": {"type": "python", "module": "sf_progress.chaostoolkit.controls.timings"}}]

After each sf_progress action it reads the action's result; when the experiment ends it adds
one entry to the journal's ``extensions``: ``{"name": "sf_progress-timings", "faults": [...]}``,
a fault per action (``operation_id``, ``type``, the action's name, ``time_to_end_s``,
``recovered``, ``recovery_s``, ``recovery_reason``), so a dashboard reads them without parsing
each activity's output.
"""

from __future__ import annotations

from typing import Any

__all__ = ["after_activity_control", "after_experiment_control", "configure_control"]

EXTENSION = "sf_progress-timings"
_ACTIONS_MODULES = ("sf_progress.chaostoolkit.actions", "sf_progress.chaostoolkit.faults")
_FIELDS = ("operation_id", "type", "state", "time_to_end_s", "recovered", "recovery_s", "recovery_reason")
#: The faults of the experiment under way (the toolkit runs one experiment per process at a time).
_faults: list[dict[str, Any]] = []


def configure_control(**kwargs: Any) -> None:
    """Start afresh for a new experiment (the toolkit calls it when it loads the control).

    Args:
        **kwargs: The toolkit's arguments (experiment, configuration, secrets, settings), unused.
    """
    _faults.clear()


def after_activity_control(context: dict[str, Any], state: Any, **kwargs: Any) -> None:
    """Keep the timings of an sf_progress action that applied its fault (its output holds them).

    Args:
        context: The activity, as the experiment declares it.
        state: The activity's run: ``output``, ``status``...
        **kwargs: The toolkit's other arguments (configuration, secrets), unused.
    """
    provider = context.get("provider") or {}
    output = state.get("output") if isinstance(state, dict) else None
    if provider.get("module") not in _ACTIONS_MODULES or not isinstance(output, dict) or "operation_id" not in output:
        return
    _faults.append({"action": context.get("name"), **{k: output.get(k) for k in _FIELDS}})


def after_experiment_control(context: dict[str, Any], state: Any, **kwargs: Any) -> None:
    """Add the timings to the journal's ``extensions`` (the journal is *state*).

    Args:
        context: The experiment.
        state: The journal, written after this control returns.
        **kwargs: The toolkit's other arguments, unused.
    """
    if not isinstance(state, dict):
        return
    extensions = state.setdefault("extensions", [])
    extensions.append({"name": EXTENSION, "faults": list(_faults)})
    _faults.clear()
