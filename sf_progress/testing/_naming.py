"""The fake cluster's naming store: names, their properties, and property batches.

Faithful to faults-beyond-fas-protocol.md §6: ``POST /Names/$/Create`` (201 and an empty body;
409 ``FABRIC_E_NAME_ALREADY_EXISTS``), ``GET /Names/{name}`` (200 empty, or 404 with an empty
body), ``PUT``/``GET``/``DELETE /Names/{name}/$/GetProperty`` (404
``FABRIC_E_NAME_DOES_NOT_EXIST`` / ``FABRIC_E_PROPERTY_DOES_NOT_EXIST``), ``GET
/Names/{name}/$/GetProperties`` and ``POST /Names/{name}/$/GetProperties/$/SubmitBatch`` (run in
order; the first failure commits nothing and answers 409 ``{"Kind":"Failed",...}``;
``CheckValue`` on a missing property passes; ``Int64`` data are decimal strings; every change
takes a new, larger ``SequenceNumber``, which may jump by more than one).
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ._answers import Answer, invalid

__all__ = ["NAMING_PATHS", "NamingStore", "name_key"]

NAMING_PATHS = (
    ("name_create", re.compile(r"^/Names/\$/Create$")),
    ("name_batch", re.compile(r"^/Names/(?P<name>[^$]+)/\$/GetProperties/\$/SubmitBatch$")),
    ("name_properties", re.compile(r"^/Names/(?P<name>[^$]+)/\$/GetProperties$")),
    ("property", re.compile(r"^/Names/(?P<name>[^$]+)/\$/GetProperty$")),
    ("name", re.compile(r"^/Names/(?P<name>[^$]+)$")),
)
_KINDS = ("String", "Int64", "Double", "Guid", "Binary")


def name_key(name: str) -> str:
    """A naming name's key: without ``fabric:/``, ``~`` and ``/`` alike (``sfprogress/control``)."""
    return name.removeprefix("fabric:/").replace("~", "/").strip("/")


class _Failed(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class NamingStore:
    """Names and their properties (``FakeCluster.control.names``), as the Naming Service keeps them."""

    def __init__(self) -> None:
        self.names: dict[str, dict[str, dict[str, Any]]] = {}  # name key -> property -> PropertyInfo
        self.sequence = 100
        self.writes = 0  # the property writes answered (puts, deletes, committed batches)

    # --- scripting ---------------------------------------------------------------------

    def set_property(self, name: str, prop: str, value: str, kind: str = "String") -> None:
        """Put a naming property (``name`` with or without ``fabric:/``; the name is created too)."""
        key = name_key(name)
        self.names.setdefault(key, {})[prop] = self._info(key, prop, {"Kind": kind, "Data": value})

    def delete_property(self, name: str, prop: str) -> None:
        """Delete a naming property (nothing if it is not there)."""
        self.names.get(name_key(name), {}).pop(prop, None)

    def get_property(self, name: str, prop: str) -> dict[str, Any] | None:
        """A property's ``PropertyInfo`` as the gateway answers it, or ``None``."""
        return self.names.get(name_key(name), {}).get(prop)

    # --- the wire ------------------------------------------------------------------------

    async def answer(self, what: str, request: web.Request, match: re.Match[str], query: dict[str, str],
                     name: str | None) -> web.Response:
        """Answer one naming request (*what*: its route in ``NAMING_PATHS``; *name*: decoded)."""
        method = request.method
        if what == "name_create" and method == "POST":
            return self._create(await request.read())
        if name is None:
            raise invalid("The request is not supported: unknown path or verb")
        key = name_key(name)
        if what == "name" and method == "GET":
            return web.Response(status=200 if key in self.names else 404)  # §6.1: a 404 with an empty body
        properties = self._existing(key)
        if what == "name_properties" and method == "GET":
            values = query.get("IncludeValues", "false").lower() == "true"
            items = [info if values else _without_value(info) for info in properties.values()]
            return web.json_response({"ContinuationToken": "", "IsConsistent": True, "Properties": items})
        if what == "name_batch" and method == "POST":
            return self._batch(key, await request.read())
        if what != "property":
            raise invalid("The request is not supported: unknown path or verb")
        if method == "PUT":
            description = _json(await request.read())
            prop, value = description.get("PropertyName"), _value(description.get("Value"))
            if not isinstance(prop, str) or not prop:
                raise invalid("PropertyName is required")
            properties[prop] = self._info(key, prop, value, str(description.get("CustomTypeId") or ""))
            self.writes += 1
            return web.Response(status=200)
        prop = query.get("PropertyName")
        if not prop:
            raise invalid("PropertyName is required")
        if prop not in properties:
            raise Answer(404, "FABRIC_E_PROPERTY_DOES_NOT_EXIST", f"Property '{prop}' does not exist")
        if method == "GET":
            return web.Response(text=json.dumps(properties[prop]), content_type="application/json")
        if method == "DELETE":
            del properties[prop]
            self.writes += 1
            return web.Response(status=200)
        raise invalid("The request is not supported: unknown path or verb")

    def _create(self, body: bytes) -> web.Response:
        name = _json(body).get("Name")
        if not isinstance(name, str) or not name.startswith("fabric:/") or not name_key(name):
            raise Answer(400, "FABRIC_E_INVALID_NAME_URI", f"Invalid name URI {name!r}")
        key = name_key(name)
        if key in self.names:
            raise Answer(409, "FABRIC_E_NAME_ALREADY_EXISTS", f"Name '{name}' already exists")
        self.names[key] = {}
        return web.Response(status=201)

    def _existing(self, key: str) -> dict[str, dict[str, Any]]:
        properties = self.names.get(key)
        if properties is None:
            raise Answer(404, "FABRIC_E_NAME_DOES_NOT_EXIST", f"Name 'fabric:/{key}' does not exist")
        return properties

    def _info(self, key: str, prop: str, value: dict[str, Any], custom: str = "") -> dict[str, Any]:
        self.sequence += 3  # a store operation number: it may jump by more than one
        data = value["Data"]
        size = len(data) if isinstance(data, list) else 8 if value["Kind"] in ("Int64", "Double") else len(
            str(data).encode("utf-16-le"))
        return {
            "Name": prop, "Value": value,
            "Metadata": {"TypeId": value["Kind"], "CustomTypeId": custom, "Parent": f"fabric:/{key}",
                         "SizeInBytes": size,
                         "LastModifiedUtcTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
                         + "Z",
                         "SequenceNumber": str(self.sequence)},
        }

    def _batch(self, key: str, body: bytes) -> web.Response:
        """Run the operations in order on a copy; commit only if none fails (§6.3)."""
        operations = _json(body).get("Operations")
        if not isinstance(operations, list):
            raise invalid("Operations must be a list")
        work = copy.deepcopy(self.names[key])
        found: dict[str, Any] = {}
        for index, operation in enumerate(operations):
            try:
                self._operate(key, work, operation, index, found)
            except _Failed as failed:
                return web.json_response({"Kind": "Failed", "ErrorMessage": failed.code, "OperationIndex": index},
                                         status=409)
        self.names[key] = work
        if any(isinstance(o, dict) and o.get("Kind") in ("Put", "Delete") for o in operations):
            self.writes += 1
        return web.json_response({"Kind": "Successful", "Properties": found})

    def _operate(self, key: str, work: dict[str, dict[str, Any]], operation: object, index: int,
                 found: dict[str, Any]) -> None:
        if not isinstance(operation, dict) or not isinstance(operation.get("PropertyName"), str):
            raise invalid(f"Operations[{index}] needs a Kind and a PropertyName")
        kind, prop = operation.get("Kind"), operation["PropertyName"]
        present = work.get(prop)
        if kind == "CheckExists":
            if (present is not None) != bool(operation.get("Exists")):
                raise _Failed("FABRIC_E_PROPERTY_CHECK_FAILED")
        elif kind == "CheckSequence":
            if present is None or present["Metadata"]["SequenceNumber"] != str(operation.get("SequenceNumber")):
                raise _Failed("FABRIC_E_PROPERTY_CHECK_FAILED")
        elif kind == "CheckValue":
            if present is not None and present["Value"] != _value(operation.get("Value")):  # missing: passes
                raise _Failed("FABRIC_E_PROPERTY_CHECK_FAILED")
        elif kind == "Put":
            work[prop] = self._info(key, prop, _value(operation.get("Value")), str(operation.get("CustomTypeId") or ""))
        elif kind == "Delete":
            if present is None:
                raise _Failed("FABRIC_E_PROPERTY_DOES_NOT_EXIST")
            del work[prop]
        elif kind == "Get":
            if present is not None:
                include = bool(operation.get("IncludeValue"))
                found[str(index)] = present if include else _without_value(present)
        else:
            raise invalid(f"Operations[{index}]: unknown Kind {kind!r}")


def _without_value(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if k != "Value"}


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        raise invalid("The body is not valid JSON") from None
    if not isinstance(data, dict):
        raise invalid("The body must be a JSON object")
    return data


def _value(value: object) -> dict[str, Any]:
    """A property value as written: ``Int64`` data as a decimal string (§6.2)."""
    if not isinstance(value, dict) or value.get("Kind") not in _KINDS or "Data" not in value:
        raise invalid(f"Value must be {{'Kind': one of {', '.join(_KINDS)}, 'Data': ...}}")
    kind, data = value["Kind"], value["Data"]
    if kind == "Int64":
        if not isinstance(data, str) or not re.fullmatch(r"-?\d+", data):
            raise invalid("Int64 Data must be a decimal string")
    elif kind == "Double":
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise invalid("Double Data must be a number")
    elif kind == "Binary":
        if not isinstance(data, list) or not all(isinstance(b, int) and 0 <= b < 256 for b in data):
            raise invalid("Binary Data must be an array of bytes")
    elif not isinstance(data, str):
        raise invalid(f"{kind} Data must be a string")
    return {"Kind": kind, "Data": data}
