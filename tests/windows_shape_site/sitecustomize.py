"""Child processes of a Windows-shaped test run look like Windows too (see ``tests/windows_shape.py``)."""

import os
import sys

if os.environ.get("SF_PROGRESS_WINDOWS_SHAPE") == "1":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import windows_shape

    windows_shape.install()
    del sys.path[0]
