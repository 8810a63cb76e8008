"""Make aioresponses 0.7.x work with aiohttp >= 3.14 (pnuckowski/aioresponses#289).

aiohttp 3.14 added a required ``stream_writer`` argument to ``ClientResponse``; the
latest aioresponses does not pass it.  For an already-sent request aiohttp only reads
``stream_writer.output_size``, so a stand-in with that attribute is enough.  Remove this
module once an aioresponses release handles it.
"""

from __future__ import annotations

import inspect
import types
from typing import Any

import aioresponses.core
from aiohttp import ClientResponse

_NEEDS_WRITER = "stream_writer" in inspect.signature(ClientResponse.__init__).parameters


class _CompatResponse(ClientResponse):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", types.SimpleNamespace(output_size=0))
        super().__init__(*args, **kwargs)


def install() -> None:
    """Patch aioresponses' default response class when aiohttp needs it."""
    if _NEEDS_WRITER:
        aioresponses.core.ClientResponse = _CompatResponse  # type: ignore[misc]
