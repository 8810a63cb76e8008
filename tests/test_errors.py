"""The exception tree."""

from __future__ import annotations

import pickle

import pytest

import sf_progress
from sf_progress import (
    AuthError,
    BadRequestError,
    ConflictError,
    FabricError,
    FabricTransientError,
    NotFoundError,
    OperationRef,
    ResponseFormatError,
    SFProgressError,
    TransportError,
    TransportTimeout,
)
from sf_progress._errors import excerpt, fabric_error_class


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (409, ConflictError),
        (408, FabricTransientError),
        (429, FabricTransientError),
        (502, FabricTransientError),
        (503, FabricTransientError),
        (504, FabricTransientError),
        (500, FabricError),
        (418, FabricError),
    ],
)
def test_status_maps_to_class(status: int, cls: type[FabricError]) -> None:
    """Each status gets the subclass a caller would branch on."""
    assert fabric_error_class(status) is cls


def test_tree_has_one_root() -> None:
    """Every public exception derives from SFProgressError; TransportTimeout is a TimeoutError."""
    for name in sf_progress.__all__:
        obj = getattr(sf_progress, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, SFProgressError), name
    assert issubclass(TransportTimeout, TimeoutError)
    assert issubclass(TransportTimeout, TransportError)


def test_fabric_error_message_and_repr(ref: OperationRef) -> None:
    """A FabricError names status, code, message and the operation."""
    exc = NotFoundError(
        status=404, code="FABRIC_E_KEY_NOT_FOUND", message="gone", reason="FABRIC_E_KEY_NOT_FOUND", ref=ref
    )
    assert str(exc).startswith("HTTP 404 FABRIC_E_KEY_NOT_FOUND: gone [operation ")
    assert "NotFoundError(status=404, code='FABRIC_E_KEY_NOT_FOUND'" in repr(exc)
    assert exc.ref is ref
    assert not exc.transient


def test_fabric_error_without_code_uses_reason() -> None:
    """An empty-body error shows its reason phrase once."""
    exc = AuthError(status=401, code=None, message="Unauthorized", reason="Unauthorized")
    assert str(exc) == "HTTP 401 Unauthorized"


def test_errors_pickle(ref: OperationRef) -> None:
    """Errors survive pickling with their attributes (for multiprocessing users)."""
    exc = FabricTransientError(status=503, code="E_ABORT", message="m", retry_after=2.0, ref=ref)
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is FabricTransientError
    assert (copy.status, copy.code, copy.retry_after, copy.ref, str(copy)) == (
        503,
        "E_ABORT",
        2.0,
        ref,
        str(exc),
    )
    fmt = pickle.loads(pickle.dumps(ResponseFormatError("bad", body=b"<html>", truncated=True)))
    assert fmt.excerpt == "<html>"
    assert fmt.transient


def test_excerpt_is_short_and_single_line() -> None:
    """Excerpts collapse whitespace and cut long bodies."""
    assert excerpt(b"a\n  b") == "a b"
    long = excerpt("x" * 1000)
    assert len(long) == 200
    assert long.endswith("…")
    assert excerpt(b"\xff\xfe") == "\ufffd\ufffd"
