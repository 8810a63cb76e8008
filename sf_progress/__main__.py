"""``python -m sf_progress``: the ``sf-progress`` command line (needs the ``cli`` extra)."""

from ._launch import main

main()
