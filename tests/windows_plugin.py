"""``python -m pytest -p tests.windows_plugin``: the whole run in the Windows shape (``windows_shape.py``).

Loaded with ``-p``, this module is imported before conftest.py and the test modules, so
sf_progress is first imported with ``fcntl`` and the rest already missing.
"""

from __future__ import annotations

import pytest

from .windows_shape import active, install

install()


def pytest_report_header(config: pytest.Config) -> str:
    return f"windows shape: {'on' if active() else 'off'} (fcntl, SIGHUP, add_signal_handler, add_reader missing)"
