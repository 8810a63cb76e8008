"""Every URL a client sends is built here, and only here.

One api-version rule: progress reads carry the client's ``api_version`` (default 3.0, which
every runtime accepts); start, cancel, list and node calls carry 6.0, the only version the
9.1 spec allows for them.
"""

from __future__ import annotations

from yarl import URL

from .._kinds import KINDS
from .._models import OperationRef

__all__ = ["CONTROL_API_VERSION", "Urls"]

CONTROL_API_VERSION = "6.0"
#: How many progress URLs a client keeps (about 1.5 MB at most; a wait re-reads the same refs).
_RECENT = 4096


class Urls:
    """Builds every URL a client sends, as already-encoded strings (no re-parsing)."""

    def __init__(self, base: str, api_version: str) -> None:
        self.base = base
        self._progress = {
            kind.type: f"{kind.progress_action}?api-version={api_version}&OperationId=" for kind in KINDS.values()
        }
        self._recent: dict[tuple[OperationRef, int], URL] = {}

    def progress(self, ref: OperationRef, server_timeout: int) -> URL:
        """The progress read's URL; the URLs of recent refs are kept (waits read the same ones again)."""
        key = (ref, server_timeout)
        url = self._recent.get(key)
        if url is None:
            url = URL(
                f"{self.base}{ref.path}{self._progress[ref.kind]}{ref.operation_id}&timeout={server_timeout}",
                encoded=True,
            )
            if len(self._recent) >= _RECENT:
                self._recent.clear()
            self._recent[key] = url
        return url

    def start(self, ref: OperationRef, params: str, server_timeout: int) -> URL:
        """A start call; *params* are its kind's own query parameters, already encoded."""
        action = KINDS[ref.kind].start_action
        return self.control(f"{ref.path}{action}", f"OperationId={ref.operation_id}&{params}", server_timeout)

    def control(self, path: str, params: str, server_timeout: int, *, version: str = CONTROL_API_VERSION) -> URL:
        """Any other call: *path* under the gateway, *params* before the api-version and timeout."""
        query = f"?api-version={version}" + (f"&{params}" if params else "")
        return URL(f"{self.base}{path}{query}&timeout={server_timeout}", encoded=True)
