"""Chaos Toolkit action: a failover scenario as one method step (fault, validate the whole service, wait).

``run_scenario`` runs a scenario (a file's path, or the scenario's object inline) to its end
with the blocking client, its events logged to ``chaostoolkit.log``.  A validation that failed
is a finding, not a failure: the action returns ``verdict: "failed"`` with the evidence, and
the probe ``sf_progress.chaostoolkit.probes.scenario_passed`` (over the same journal) in the
steady-state hypothesis makes the run *deviated*.  The action fails (``ActivityFailed``) only
when the scenario could not be applied: a bad scenario, a service not stable before the first
fault, too many fault errors, the stop lever, a safety rule held past ``hold_timeout``.
"""

from typing import Any, Dict  # noqa: UP035 - Dict: what Chaos Toolkit reads as "mapping"

from chaoslib.exceptions import ActivityFailed

from .. import JournalError, ScenarioEvent, ScenarioVerdict, SFProgressError
from ._common import failed
from ._connect import client_for, logger

__all__ = ["run_scenario"]


def run_scenario(
    scenario: Dict[str, Any],  # noqa: UP006
    journal: str = "",
    hold_timeout: float = 0.0,
    *,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> Dict[str, Any]:  # noqa: UP006
    """Run a failover scenario to its verdict: each fault in turn, the whole service validated after each.

    Args:
        scenario: The scenario's object (a scenario file's keys: ``service``, ``faults``,
            ``rounds``...), or ``{"file": "failover.yaml"}`` to read a YAML or JSON file.
        journal: Keep the run in this journal (``sf-progress scenario resume`` finishes a killed
            run; ``scenario_passed`` and ``sf-progress report`` read it); default: a scratch one.
        hold_timeout: Seconds a fault a safety rule forbids is held before the run stops
            (default 0: held until the rule opens).
        configuration: The experiment's configuration (``sf_endpoint``, TLS settings, ``sf_allow``).
        secrets: The experiment's secrets.

    Returns:
        A JSON-able dict: ``verdict`` (``passed`` or ``failed``), ``reason``, ``faults`` (how many
        were injected), ``detail``, ``evidence`` (what a failed validation saw) and ``journal``.

    Raises:
        ActivityFailed: The scenario could not be applied (bad scenario, not stable before the
            first fault, too many fault errors, the stop lever, a rule held too long), or any
            sf_progress error (one clear line).
    """

    def said(event: ScenarioEvent) -> None:
        logger.info("sf_progress: scenario %s", event.as_dict())

    source: Any = scenario
    if set(scenario) == {"file"}:  # (a mapping, as Chaos Toolkit passes it)
        source = str(scenario["file"])
    with client_for(configuration, secrets) as client:
        try:
            events = client.run_scenario(source, journal=journal or None, hold_timeout=float(hold_timeout) or None,
                                         on_event=said)
        except (ValueError, TypeError) as exc:
            raise failed("run_scenario: bad arguments", exc) from None
        except (SFProgressError, JournalError) as exc:
            raise failed("run_scenario", exc) from None
    last = events[-1]
    verdict = last.verdict
    result = {"verdict": str(verdict), "reason": str(last.reason), "faults": sum(
        1 for e in events if e.kind.value == "fault_started"), "detail": last.detail,
        "evidence": list(last.evidence), "journal": journal or None}
    if verdict is ScenarioVerdict.ABORTED:
        raise ActivityFailed(f"run_scenario was aborted ({last.reason}): {last.detail}")
    if verdict is ScenarioVerdict.FAILED:
        logger.warning("sf_progress: the scenario's validation failed: %s", "; ".join(last.evidence))
    return result
