"""Chaos Toolkit activities for Service Fabric faults (the extra ``sf_progress[chaostoolkit]``).

``actions`` start a fault and wait until it ended (or its target recovered), ``probes`` read
faults and whether a partition or node recovered, ``rollbacks`` cancel faults.  Every
activity takes its domain arguments first, then ``timeout``, then ``configuration`` and
``secrets`` (connection settings, see :mod:`sf_progress.chaostoolkit._connect`), and
returns JSON-able values for the toolkit's journal.  ``chaos discover --no-install
sf_progress`` lists them (through :func:`sf_progress.discover`).
"""

from __future__ import annotations

__all__: list[str] = []
