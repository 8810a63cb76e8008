"""Testing helpers that ship with sf_progress: a real fake cluster and the no-wait switch.

``FakeCluster`` is an aiohttp.web server on 127.0.0.1 that speaks the Faults REST API;
``SyncFakeCluster`` serves one from a thread of its own, for blocking code;
``set_testing(True)`` removes all waiting.  pytest users get both as fixtures with
``pytest_plugins = ["sf_progress.testing.pytest_plugin"]`` (needs pytest-asyncio).
"""

from .._config import set_testing
from ._fake import ROUTES, FakeCluster
from ._scripts import HRESULTS, FakeOperation, Fault, Script
from ._threaded import SyncFakeCluster

__all__ = ["HRESULTS", "ROUTES", "FakeCluster", "FakeOperation", "Fault", "Script", "SyncFakeCluster", "set_testing"]
