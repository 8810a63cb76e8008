"""The faults the cluster keeps no operation for: replica, code-package, move and node-restart faults.

``specs.py`` (their parameters), ``reads.py`` (the
target's reads and their parsing), ``prepare.py`` (the target read and the choices made
before a start: the ``Baseline``), ``sending.py`` (the start calls) and ``judge.py``
(whether the effect is seen).
"""
