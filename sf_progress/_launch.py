"""Entry point of the ``sf-progress`` script: a clear message when the ``cli`` extra is missing."""

from __future__ import annotations

import sys


def main() -> None:
    """Run the command line, or explain how to install it."""
    try:
        from .cli import main as cli_main
    except ImportError as exc:  # click or rich missing
        sys.stderr.write(
            f"sf-progress needs the command-line extra ({exc.name} is missing): pip install 'sf_progress[cli]'\n"
        )
        sys.exit(2)
    cli_main()
