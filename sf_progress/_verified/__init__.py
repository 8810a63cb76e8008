"""The faults the cluster keeps no operation for: replica, code-package, move and node-restart faults.

``specs.py`` (their parameters), ``hints.py`` (shared reads that say which targets
changed), ``reads.py`` (the
target's reads and their parsing), ``prepare.py`` (the target read and the choices made
before a start: the ``Baseline``), ``sending.py`` (the start calls) and ``judge.py``
(whether the effect is seen).
"""

from .._models import OperationState
from .._progress import VerifiedProgress

#: Seconds between a wait's looks at a verified fault, and that a shared list read answers for.
TICK = 0.5
#: Seconds after which a fault's target is read again even if no hint changed.
FALLBACK = 5.0

#: A verified fault's answer made without a request (nothing says its target changed): the
#: waits count it as no read.  Equal to any ``Running`` progress; told apart by identity.
UNREAD = VerifiedProgress(OperationState.RUNNING)
