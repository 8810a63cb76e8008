"""``python -m sf_progress``: the ``sf-progress`` command line (needs the ``cli`` extra)."""

from .cli import main

main()
