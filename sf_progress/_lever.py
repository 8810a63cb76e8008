"""The stop lever: one naming property in the cluster that every sf_progress process reads before a start.

``faults-beyond-fas-protocol.md`` §6.4, recipe 2: the lever is engaged while the property
``killswitch`` of the name ``fabric:/sfprogress/control`` exists, released once it is deleted.
Its value (a ``String``) holds who engaged it and why, as JSON; a value some other tool wrote
(``"on"``) is read as the reason.  When it was engaged is the property's
``LastModifiedUtcTimestamp``, as the cluster wrote it.
"""

from __future__ import annotations

import getpass
import json
import socket
from typing import Any

import attrs

from ._errors import ResponseFormatError
from ._models import OperationRef
from ._wire.parsing import decode_json

__all__ = [
    "LEVER_NAME", "LEVER_PATH", "LEVER_PROPERTY", "LEVER_RULE", "PROPERTY_PATH", "PROPERTY_QUERY", "RELEASED",
    "LeverState", "engaged_by", "lever_body",
    "parse_lever",
]

#: The naming name (without ``fabric:/``) and property of the stop lever.
LEVER_NAME, LEVER_PROPERTY = "sfprogress/control", "killswitch"
#: The path of the lever's name in the gateway's ``/Names/{name}`` calls (``~`` for ``/``, §6.1).
LEVER_PATH = "/Names/" + LEVER_NAME.replace("/", "~")
#: The lever's property: the path (PUT, GET, DELETE) and the query that names it (GET, DELETE).
PROPERTY_PATH, PROPERTY_QUERY = f"{LEVER_PATH}/$/GetProperty", f"PropertyName={LEVER_PROPERTY}"
#: The rule a refusal by the stop lever names (``SafetyError.rule``); nothing waives it.
LEVER_RULE = "lever"
#: Longest reason kept (a property value is bounded by the cluster; this keeps it readable).
MAX_REASON = 1000


@attrs.frozen
class LeverState:
    """The stop lever, as read (:meth:`ProgressClient.get_lever`).

    While it is engaged no sf_progress process starts a fault: single starts are refused
    with a :class:`SafetyError` (rule ``lever``), campaigns start nothing more.

    Attributes:
        engaged: Whether it is engaged.
        reason: Why, as its engager said (``None``: not said, or released).
        by: Who engaged it (``user@host``), when sf_progress did.
        at: When, as the cluster stamped the property (UTC, ISO 8601).
    """

    engaged: bool
    reason: str | None = None
    by: str | None = None
    at: str | None = None

    def __str__(self) -> str:
        if not self.engaged:
            return "released"
        words = "engaged" + (f" by {self.by}" if self.by else "") + (f" at {self.at}" if self.at else "")
        return words + (f": {self.reason}" if self.reason else "")

    def as_dict(self) -> dict[str, Any]:
        """The state as plain JSON (``sf-progress lever status -o json``).

        Returns:
            ``{"engaged", "reason", "by", "at"}``.
        """
        return {"engaged": self.engaged, "reason": self.reason, "by": self.by, "at": self.at}


RELEASED = LeverState(False)


def parse_lever(body: bytes, ref: OperationRef | None = None) -> LeverState:
    """An engaged lever from its property's ``PropertyInfo`` (a missing property is a 404: released)."""
    data = decode_json(body, ref)
    value = data.get("Value") if isinstance(data, dict) else None
    if not isinstance(value, dict):
        raise ResponseFormatError("expected a PropertyInfo with a Value", body=body, ref=ref)
    metadata = data.get("Metadata") if isinstance(data.get("Metadata"), dict) else {}
    at = metadata.get("LastModifiedUtcTimestamp")
    text = value.get("Data")
    reason: str | None = text if isinstance(text, str) and text else None
    by = None
    if reason is not None and reason.startswith("{"):
        try:
            said = json.loads(reason)
        except ValueError:
            said = None
        if isinstance(said, dict):
            reason = said.get("reason") if isinstance(said.get("reason"), str) else None
            by = said.get("by") if isinstance(said.get("by"), str) else None
    return LeverState(True, reason, by, at if isinstance(at, str) else None)


def engaged_by() -> str:
    """``user@host`` of this process (``unknown`` for what cannot be told)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError, ImportError):
        user = "unknown"
    return f"{user}@{socket.gethostname() or 'unknown'}"


def lever_body(reason: str | None, by: str | None) -> bytes:
    """The ``PUT .../$/GetProperty`` body that engages the lever (§6.2: a ``String`` value)."""
    if reason is not None and not isinstance(reason, str):
        raise TypeError(f"reason must be a str, not {type(reason).__name__}")
    if by is not None and not isinstance(by, str):
        raise TypeError(f"by must be a str, not {type(by).__name__}")
    if reason is not None and len(reason) > MAX_REASON:
        raise ValueError(f"reason must be at most {MAX_REASON} characters, got {len(reason)}")
    data = json.dumps({"reason": reason or None, "by": by or engaged_by()}, ensure_ascii=False)
    return json.dumps({"PropertyName": LEVER_PROPERTY, "Value": {"Kind": "String", "Data": data}}).encode()
