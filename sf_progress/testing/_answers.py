"""FabricError answers of the fake gateway (raised inside its handler)."""

from __future__ import annotations

import json

from aiohttp import web

__all__ = ["Answer", "fabric_error", "invalid"]


class Answer(Exception):
    """Raised inside the handler to send a FabricError answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.response = fabric_error(status, code, message)


def fabric_error(status: int, code: str, message: str) -> web.Response:
    body = json.dumps({"Error": {"Code": code, "Message": message}})
    return web.Response(status=status, reason=code, text=body, content_type="application/json")


def invalid(message: str) -> Answer:
    return Answer(400, "E_INVALIDARG", message)
