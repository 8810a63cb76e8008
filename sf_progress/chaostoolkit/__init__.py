"""Chaos Toolkit activities for Service Fabric faults (the extra ``sf_progress[chaostoolkit]``).

``actions`` start a fault and wait until it ended (or its target recovered), ``probes`` read
faults and whether a partition or node recovered, ``rollbacks`` cancel faults.  Every
activity takes its domain arguments first, then ``timeout``, then ``configuration`` and
``secrets`` (connection settings, see :mod:`sf_progress.chaostoolkit._connect`), and
returns JSON-able values for the toolkit's journal.  ``chaos discover --no-install
sf_progress`` lists them (through :func:`sf_progress.discover`).
"""

from __future__ import annotations

from typing import Any

from .._version import __version__

__all__ = ["discover", "load_exported_activities"]


def discover(discover_system: bool = True) -> dict[str, Any]:
    """The Chaos Toolkit discovery of this extension: its actions, probes and rollbacks with their arguments."""
    from chaoslib.discovery.discover import initialize_discovery_result

    discovery: dict[str, Any] = initialize_discovery_result("sf_progress", __version__, "service-fabric")
    discovery["activities"].extend(load_exported_activities())
    return discovery


def load_exported_activities() -> list[dict[str, Any]]:
    """Every exported activity of the extension's modules, as the toolkit describes them."""
    from chaoslib.discovery.discover import discover_actions, discover_probes

    activities: list[dict[str, Any]] = []
    activities.extend(discover_actions("sf_progress.chaostoolkit.actions"))
    activities.extend(discover_probes("sf_progress.chaostoolkit.probes"))
    activities.extend(discover_actions("sf_progress.chaostoolkit.rollbacks"))
    return activities
